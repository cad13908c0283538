"""``send_alert``: what producer applications call. Validates in the producer, then enqueues.

Only the broker's URL (``CELERY_BROKER_URL``, else ``REDIS_URL``) is needed in the producer
process; nothing here touches Postgres. A broker that is down or silent makes a publish fail
within :func:`alerting.broker.publish_bound` seconds with :class:`BrokerUnavailable`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult

from alerting.broker import (
    PUBLISH_ERRORS,
    BrokerUnavailable,
    DeclaredAMQP,
    celery_broker_options,
    publish_bound,
)
from alerting.domain.errors import InvalidInput
from alerting.domain.events import AlertEvent, validate_event
from alerting.domain.priority import is_urgent_severity
from alerting.queues import (
    DELIVER_TASK,
    INGEST_TASK,
    INTEGRATE_TASK,
    ROUTE_TASK,
    queue_for,
    tenant_queue,
)
from alerting.settings import Settings, get_settings

__all__ = ["BrokerUnavailable", "publish_event", "publish_events", "send_alert"]

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def producer_app() -> Celery:
    """A light Celery client for publishing; the worker's app lives in ``workers.app``."""
    return build_producer_app(get_settings())


def build_producer_app(settings: Settings) -> Celery:
    app = Celery("alerting-producer", set_as_current=False, amqp=DeclaredAMQP)
    app.conf.update(
        **celery_broker_options(settings),
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    return app


class SendAlert:
    """Celery-task-like entry point: ``send_alert.delay(tenant_id=..., ...)``.

    The returned result's ``id`` is the alert event's id (``alerting alerts show <id>``).
    """

    name = INGEST_TASK

    def delay(self, **fields: Any) -> AsyncResult[Any]:
        return self.apply_async(kwargs=fields)

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> AsyncResult[Any]:
        if args:
            raise TypeError("send_alert takes keyword arguments only (tenant_id=..., ...)")
        event = validate_event(
            dict(kwargs or {}), max_message_chars=get_settings().max_message_chars
        )
        task_id = options.get("task_id")
        if task_id is not None:
            try:
                uuid.UUID(str(task_id))
            except ValueError:
                raise InvalidInput("send_alert", [("task_id", "must be a UUID")]) from None
        return publish_event(event, task_id=task_id, app=options.get("app"))

    def __call__(self, **fields: Any) -> AsyncResult[Any]:
        return self.delay(**fields)


def publish_event(
    event: AlertEvent, *, task_id: str | None = None, app: Celery | None = None
) -> AsyncResult[Any]:
    app = app or producer_app()
    message = _stamped(event)
    try:
        result = app.send_task(
            INGEST_TASK,
            kwargs={"event": message},
            task_id=task_id or str(uuid.uuid4()),
            queue=event_queue(event),
        )
    except PUBLISH_ERRORS as exc:
        raise _unavailable(app, exc) from exc
    _keep_copies(app, [(str(result.id), event.tenant_id, message)])
    return result


def event_queue(event: AlertEvent) -> str:
    """Critical and error events take their tenant's urgent lane, so they are ingested before
    the tenant's backlog of less urgent events."""
    return queue_for(event.tenant_id, urgent=is_urgent_severity(event.severity))


def _stamped(event: AlertEvent) -> dict[str, Any]:
    """The event for the broker, with the time it was sent when the producer gave none:
    workers take events in any order, and the latest sent must be the one that is kept."""
    if event.occurred_at is None:
        event = event.model_copy(update={"occurred_at": datetime.now(UTC)})
    return event.to_message()


def publish_events(events: Sequence[AlertEvent], *, app: Celery | None = None) -> list[str]:
    """Publish a checked batch over one broker connection; the event ids, in order."""
    app = app or producer_app()
    ids = [str(uuid.uuid4()) for _ in events]
    # One producer for the batch: acquiring one per message costs more than the publish.
    copies: list[tuple[str, str, dict[str, Any]]] = []
    try:
        with app.producer_or_acquire() as producer:
            for event, task_id in zip(events, ids, strict=True):
                message = _stamped(event)
                app.send_task(
                    INGEST_TASK,
                    kwargs={"event": message},
                    task_id=task_id,
                    queue=event_queue(event),
                    producer=producer,
                )
                copies.append((task_id, event.tenant_id, message))
    except PUBLISH_ERRORS as exc:
        raise _unavailable(app, exc) from exc
    _keep_copies(app, copies)
    return ids


def _keep_copies(app: Celery, copies: list[tuple[str, str, dict[str, Any]]]) -> None:
    """With the Redis broker, a copy of each event until it is stored (alerting/inflight.py).

    The events are accepted once published: a copy that cannot be written is logged, never
    turned into an error the caller would take for a refusal."""
    url = str(app.conf.broker_url or "")
    if url.startswith(("redis://", "rediss://", "unix://")):
        from alerting.breaker import redis_client
        from alerting.inflight import remember

        try:
            remember(redis_client(url), copies)
        except redis.RedisError:
            log.warning("could not keep copies of %d published events", len(copies), exc_info=True)


def _unavailable(app: Celery, exc: BaseException) -> BrokerUnavailable:
    settings = get_settings()
    url = str(app.conf.broker_url or settings.require_broker_url())
    return BrokerUnavailable(url, publish_bound(settings), exc)


def enqueue_route(
    tenant_id: str,
    event_id: uuid.UUID | str,
    *,
    app: Celery | None = None,
    urgent: bool = False,
) -> None:
    kwargs: dict[str, Any] = {"tenant_id": tenant_id, "event_id": str(event_id)}
    if urgent:
        # Kept in the message so retries and redeliveries stay in the urgent lane.
        kwargs["urgent"] = True
    (app or producer_app()).send_task(
        ROUTE_TASK, kwargs=kwargs, queue=queue_for(tenant_id, urgent=urgent)
    )


def enqueue_deliver(
    tenant_id: str,
    notification_id: uuid.UUID | str,
    *,
    app: Celery | None = None,
    urgent: bool = False,
) -> None:
    kwargs: dict[str, Any] = {"tenant_id": tenant_id, "notification_id": str(notification_id)}
    if urgent:
        kwargs["urgent"] = True
    (app or producer_app()).send_task(
        DELIVER_TASK, kwargs=kwargs, queue=queue_for(tenant_id, urgent=urgent)
    )


def enqueue_integration(
    tenant_id: str, call_id: uuid.UUID | str, *, app: Celery | None = None
) -> None:
    """One call to PagerDuty or ServiceNow (an ``integration_calls`` row)."""
    (app or producer_app()).send_task(
        INTEGRATE_TASK,
        kwargs={"tenant_id": tenant_id, "call_id": str(call_id)},
        queue=tenant_queue(tenant_id),
    )


send_alert = SendAlert()
