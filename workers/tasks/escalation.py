from __future__ import annotations

import time

from alerting.db.session import session_scope
from alerting.metrics import ESCALATIONS
from alerting.pipeline.escalation import TICK_BATCH, tick
from alerting.producer import enqueue_deliver, enqueue_integration
from alerting.queues import ESCALATION_TICK_TASK
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=ESCALATION_TICK_TASK, **INFRASTRUCTURE_RETRY)
def escalation_tick() -> int:
    """Claim due escalations, notify their level, advance; deliveries go out after commit.

    A full batch means more may be due: another batch follows at once (its own transaction)
    rather than a tick interval later, for up to one tick interval, so many levels falling
    due together are not spread over many ticks.
    """
    budget = time.monotonic() + get_settings().escalation_tick_seconds
    handled = 0
    while True:
        with session_scope() as session:
            result = tick(session)
        for tenant_id, step in result.steps:
            ESCALATIONS.labels(tenant=tenant_id, step=step).inc()
        for tenant_id, notification_id in result.notifications:
            # Pages take the tenant's urgent lane: never behind its backlog of new events.
            enqueue_deliver(tenant_id, notification_id, app=app, urgent=True)
        for tenant_id, call_id in result.integration_calls:
            enqueue_integration(tenant_id, call_id, app=app)
        handled += result.handled
        if result.handled < TICK_BATCH or time.monotonic() >= budget:
            return handled
