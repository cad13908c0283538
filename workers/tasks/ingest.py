from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task

from alerting.breaker import redis_client
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput, UnknownTenant
from alerting.domain.events import validate_event
from alerting.domain.priority import is_urgent_severity
from alerting.inflight import forget
from alerting.live import publish_change
from alerting.metrics import EVENTS, REJECTED
from alerting.pipeline.ingest import ingest_event
from alerting.producer import enqueue_integration, enqueue_route
from alerting.queues import INGEST_TASK
from alerting.settings import get_settings
from workers.app import AMQP_BROKER, INFRASTRUCTURE_RETRY, app

log = logging.getLogger(__name__)


@app.task(name=INGEST_TASK, bind=True, **INFRASTRUCTURE_RETRY)
def ingest(self: Task[Any, Any], event: dict[str, Any]) -> str:
    """Validate again (the broker is an edge too), store, and only after commit route."""
    try:
        alert_event = validate_event(
            event, where="alerting.ingest", max_message_chars=get_settings().max_message_chars
        )
        with session_scope() as session:
            result = ingest_event(session, alert_event, event_id=uuid.UUID(self.request.id))
    except (InvalidInput, UnknownTenant) as exc:
        REJECTED.labels(edge="broker").inc()
        log.error("event %s refused: %s", self.request.id, exc)
        _stored(str(self.request.id))
        return "refused"
    _stored(str(self.request.id))
    EVENTS.labels(tenant=alert_event.tenant_id, action=result.action).inc()
    if result.alert_id is not None and result.action != "duplicate":
        publish_change(
            get_settings().redis_url,
            alert_event.tenant_id,
            alert_id=result.alert_id,
            event_id=result.event_id,
            action=result.action,
        )
    log.info(
        "alert received: %s %s %s for tenant %s (%s, event %s)",
        alert_event.severity.value,
        alert_event.alert_type,
        alert_event.status,
        alert_event.tenant_id,
        result.action,
        result.event_id,
    )
    if result.needs_routing:
        enqueue_route(
            alert_event.tenant_id,
            result.event_id,
            app=app,
            urgent=is_urgent_severity(alert_event.severity),
        )
    for call_id in result.integration_calls:
        enqueue_integration(alert_event.tenant_id, call_id, app=app)
    return result.action


def _stored(event_id: str) -> None:
    """The producer's copy (Redis broker only, alerting/inflight.py) is no longer needed."""
    if not AMQP_BROKER:
        forget(redis_client(get_settings().require_redis_url()), event_id)
