from __future__ import annotations

import uuid

from alerting.db.session import session_scope
from alerting.live import publish_change
from alerting.metrics import ESCALATIONS, MUTED
from alerting.pipeline.route import route_event
from alerting.producer import enqueue_deliver
from alerting.queues import ROUTE_TASK
from alerting.secrets import SecretBox
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=ROUTE_TASK, **INFRASTRUCTURE_RETRY)
def route(tenant_id: str, event_id: str, urgent: bool = False) -> int:
    box = SecretBox.from_settings(get_settings())
    with session_scope() as session:
        result = route_event(session, uuid.UUID(event_id), box)
    if result is None:
        return 0
    publish_change(get_settings().redis_url, result.tenant_id, event_id=event_id, action="routed")
    if result.muted is not None:
        MUTED.labels(tenant=result.tenant_id, reason=result.muted).inc()
    if result.escalation_started:
        ESCALATIONS.labels(tenant=result.tenant_id, step="started").inc()
    for notification_id in result.notification_ids:
        enqueue_deliver(result.tenant_id, notification_id, app=app, urgent=urgent or result.urgent)
    return len(result.notification_ids)
