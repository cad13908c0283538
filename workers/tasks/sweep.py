from __future__ import annotations

import logging

from sqlalchemy import select

from alerting.breaker import redis_client
from alerting.db.models import Tenant
from alerting.db.session import session_scope
from alerting.pipeline.orphans import drain_orphan_queues
from alerting.pipeline.sweep import find_stuck_work
from alerting.producer import enqueue_deliver, enqueue_integration, enqueue_route
from alerting.queues import SWEEP_TASK
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app

log = logging.getLogger(__name__)


@app.task(name=SWEEP_TASK, **INFRASTRUCTURE_RETRY)
def sweep() -> dict[str, int]:
    with session_scope() as session:
        found = find_stuck_work(session, get_settings())
    for tenant_id, event_id in found.events:
        enqueue_route(tenant_id, event_id, app=app)
    for tenant_id, notification_id in found.notifications:
        enqueue_deliver(tenant_id, notification_id, app=app)
    for tenant_id, call_id in found.integration_calls:
        enqueue_integration(tenant_id, call_id, app=app)
    if found.events or found.notifications or found.integration_calls:
        log.warning(
            "sweeper re-enqueued %d routings, %d deliveries and %d integration calls",
            len(found.events),
            len(found.notifications),
            len(found.integration_calls),
        )
    with session_scope() as session:
        tenants = session.scalars(select(Tenant.id)).all()
    moved = drain_orphan_queues(redis_client(get_settings().require_redis_url()), tenants)
    for tenant_id, count in moved.items():
        log.warning(
            "%d events for unknown tenant %r moved to the ingest queue (refused there)",
            count,
            tenant_id,
        )
    return {
        "events": len(found.events),
        "notifications": len(found.notifications),
        "integration_calls": len(found.integration_calls),
        "orphans": sum(moved.values()),
    }
