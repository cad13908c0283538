"""SlackAlertManager: the original design's entry point, and its synchronous twin.

As with slack_sdk's ``AsyncWebClient`` / ``WebClient`` or redis-py's ``redis.asyncio.Redis`` /
``Redis``, there are two classes with the same methods:

* :class:`SlackAlertManager`, the original API: every method is a coroutine
  (``await manager.send_alert(...)``, or ``asyncio.run(manager.send_alert(...))`` from plain code);
  the blocking work runs in a thread so the event loop is never held up;
* :class:`SyncSlackAlertManager`, for plain code: the same methods, returning their results.

The id ``send_alert`` returns (the event id) is accepted wherever an alert id is. Right after
``send_alert`` a worker may not have stored the event yet, so the lifecycle methods wait up to
``ingest_wait`` seconds for an id they do not find yet before reporting it unknown.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.domain.events import MAX_ACTOR_CHARS, text_problem
from alerting.metrics import TIME_TO
from alerting.pipeline.lifecycle import (
    AlertNotFound,
    LifecycleResult,
    acknowledge_alert,
    resolve_alert,
)
from alerting.producer import enqueue_integration, enqueue_route, send_alert
from alerting.settings import Settings, get_settings

T = TypeVar("T")

#: Seconds the lifecycle methods wait for an event id that is not stored yet (a worker stores
#: an event within milliseconds when it keeps up; a backlog can take longer).
DEFAULT_INGEST_WAIT = 5.0
_INGEST_POLL = 0.1

#: One escalation level as ``setup_escalation`` takes it, e.g. ``{"delay": 300,
#: "channels": ["#oncall"]}``; validated against the tenant's policy schema.
EscalationLevel = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class AlertState:
    alert_id: str
    tenant_id: str
    status: str
    changed: bool


class SyncSlackAlertManager:
    """Lifecycle of alerts across tenants (send, escalate, acknowledge, resolve), blocking."""

    def __init__(
        self, settings: Settings | None = None, *, ingest_wait: float = DEFAULT_INGEST_WAIT
    ) -> None:
        self.settings = settings or get_settings()
        self.ingest_wait = ingest_wait

    def send_alert(
        self,
        *,
        tenant_id: str,
        alert_type: str,
        severity: str,
        message: str,
        environment: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        source: str | None = None,
        status: str = "firing",
        idempotency_key: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Enqueue an alert event (validated first); returns the event id."""
        fields: dict[str, object] = {
            "tenant_id": tenant_id,
            "alert_type": alert_type,
            "severity": severity,
            "message": message,
            "status": status,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        }
        optional = {
            "environment": environment,
            "source": source,
            "idempotency_key": idempotency_key,
            "occurred_at": occurred_at,
        }
        fields.update({key: value for key, value in optional.items() if value is not None})
        return str(send_alert.delay(**fields).id)

    def setup_escalation(
        self,
        alert_id: str | uuid.UUID,
        escalation_policy: str | None = None,
        escalation_levels: Sequence[EscalationLevel] | None = None,
        *,
        tenant_id: str | None = None,
    ) -> str | None:
        """Attach a named policy (its levels replaced by ``escalation_levels`` when given), or
        inline levels alone; returns the escalation id, None if one already runs."""
        from alerting.pipeline.escalation import setup_escalation
        from alerting.secrets import SecretBox

        levels = [dict(level) for level in escalation_levels] if escalation_levels else None

        def attach() -> str | None:
            with session_scope(self.settings.postgres_url) as session:
                escalation_id = setup_escalation(
                    session,
                    alert_id,
                    policy_name=escalation_policy,
                    levels=levels,
                    box=SecretBox.from_settings(self.settings),
                    actor="api:setup_escalation",
                    tenant_id=tenant_id,
                )
            return str(escalation_id) if escalation_id else None

        return self._once_stored(alert_id, attach)

    def acknowledge(
        self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
    ) -> AlertState:
        return self._change(acknowledge_alert, alert_id, by, tenant_id)

    def resolve(
        self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
    ) -> AlertState:
        return self._change(resolve_alert, alert_id, by, tenant_id)

    def _once_stored(self, alert_id: str | uuid.UUID, work: Callable[[], T]) -> T:
        """``work()``, retried while the id is a well-formed one not stored yet."""
        deadline = time.monotonic() + self.ingest_wait
        while True:
            try:
                return work()
            except AlertNotFound:
                if not _is_uuid(alert_id) or time.monotonic() >= deadline:
                    raise
            time.sleep(_INGEST_POLL)

    def _change(
        self,
        action: Callable[..., LifecycleResult],
        alert_id: str | uuid.UUID,
        by: str,
        tenant_id: str | None,
    ) -> AlertState:
        if not by or not by.strip():
            raise ValueError("by: who acknowledges or resolves must be named")
        problem = text_problem(by)
        if problem is None and len(by) > MAX_ACTOR_CHARS:
            problem = f"is longer than {MAX_ACTOR_CHARS} characters"
        if problem:
            raise InvalidInput(action.__name__, [("by", problem)])

        def apply() -> LifecycleResult:
            with session_scope(self.settings.postgres_url) as session:
                return action(session, alert_id, by=by, tenant_id=tenant_id)

        result = self._once_stored(alert_id, apply)
        if result.event_id is not None:
            # After commit: a notification must never announce a change that was rolled back.
            # A person's acknowledgement or resolution takes the tenant's urgent lane.
            enqueue_route(result.tenant_id, result.event_id, urgent=True)
            for call_id in result.integration_calls:
                enqueue_integration(result.tenant_id, call_id)
            if result.elapsed is not None:
                TIME_TO.labels(tenant=result.tenant_id, transition=result.status).observe(
                    result.elapsed
                )
        return AlertState(
            str(result.alert_id), result.tenant_id, result.status, result.event_id is not None
        )


class SlackAlertManager:
    """The original API: the same methods as :class:`SyncSlackAlertManager`, as coroutines."""

    def __init__(
        self, settings: Settings | None = None, *, ingest_wait: float = DEFAULT_INGEST_WAIT
    ) -> None:
        self.sync = SyncSlackAlertManager(settings, ingest_wait=ingest_wait)
        self.settings = self.sync.settings

    async def send_alert(
        self,
        *,
        tenant_id: str,
        alert_type: str,
        severity: str,
        message: str,
        environment: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        source: str | None = None,
        status: str = "firing",
        idempotency_key: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Enqueue an alert event (validated first); returns the event id."""
        return await asyncio.to_thread(
            self.sync.send_alert,
            tenant_id=tenant_id,
            alert_type=alert_type,
            severity=severity,
            message=message,
            environment=environment,
            labels=labels,
            annotations=annotations,
            source=source,
            status=status,
            idempotency_key=idempotency_key,
            occurred_at=occurred_at,
        )

    async def setup_escalation(
        self,
        alert_id: str | uuid.UUID,
        escalation_policy: str | None = None,
        escalation_levels: Sequence[EscalationLevel] | None = None,
        *,
        tenant_id: str | None = None,
    ) -> str | None:
        """Attach a named policy (its levels replaced by ``escalation_levels`` when given), or
        inline levels alone; returns the escalation id, None if one already runs."""
        return await asyncio.to_thread(
            self.sync.setup_escalation,
            alert_id,
            escalation_policy,
            escalation_levels,
            tenant_id=tenant_id,
        )

    async def acknowledge(
        self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
    ) -> AlertState:
        return await asyncio.to_thread(self.sync.acknowledge, alert_id, by=by, tenant_id=tenant_id)

    async def resolve(
        self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
    ) -> AlertState:
        return await asyncio.to_thread(self.sync.resolve, alert_id, by=by, tenant_id=tenant_id)


def _is_uuid(value: str | uuid.UUID) -> bool:
    if isinstance(value, uuid.UUID):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
