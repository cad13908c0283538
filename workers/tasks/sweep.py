from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from alerting.breaker import redis_client
from alerting.broker import REDIS_RESTORE_INTERVAL
from alerting.db.models import Tenant
from alerting.db.session import session_scope
from alerting.domain.priority import is_urgent_severity
from alerting.inflight import overdue
from alerting.pipeline.orphans import drain_orphan_queues
from alerting.pipeline.sweep import find_stuck_work
from alerting.producer import enqueue_deliver, enqueue_integration, enqueue_route
from alerting.queues import INGEST_TASK, SWEEP_TASK, queue_for
from alerting.settings import get_settings
from workers.app import AMQP_BROKER, INFRASTRUCTURE_RETRY, app

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
    republished = 0 if AMQP_BROKER else _publish_lost_events()
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
        "republished": republished,
    }


def _publish_lost_events() -> int:
    """Redis broker: events published longer ago than a redelivery would take and still not
    stored are published again (alerting/inflight.py); ingest ignores a repeat."""
    settings = get_settings()
    after = settings.visibility_timeout + REDIS_RESTORE_INTERVAL + settings.sweep_after_seconds
    copies = overdue(redis_client(settings.require_redis_url()), after)
    for event_id, tenant_id, message in copies:
        app.send_task(
            INGEST_TASK,
            kwargs={"event": message},
            task_id=event_id,
            queue=queue_for(tenant_id, urgent=_urgent(message)),
        )
    if copies:
        log.warning(
            "%d events published again: not stored %.0f s after publishing", len(copies), after
        )
    return len(copies)


def _urgent(message: dict[str, Any]) -> bool:
    """The lane the producer chose: critical and error events are ingested first."""
    try:
        return is_urgent_severity(str(message.get("severity")))
    except ValueError:  # not a severity: ingest refuses it, in the normal lane
        return False
