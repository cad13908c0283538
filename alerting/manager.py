"""SlackAlertManager: the original design's entry point, kept working.

Every method works both ways: called from plain code it runs and returns the result; called
inside a running event loop it returns an awaitable that runs the blocking work in a thread,
so ``await SlackAlertManager().send_alert(...)`` works as in the original API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from alerting.db.session import session_scope
from alerting.metrics import TIME_TO
from alerting.pipeline.lifecycle import LifecycleResult, acknowledge_alert, resolve_alert
from alerting.producer import enqueue_integration, enqueue_route, send_alert
from alerting.settings import Settings, get_settings

T = TypeVar("T")


def _maybe_async(work: Callable[[], T]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    return asyncio.to_thread(work)


@dataclass(frozen=True, slots=True)
class AlertState:
    alert_id: str
    tenant_id: str
    status: str
    changed: bool


class SlackAlertManager:
    """Lifecycle of alerts across tenants: send, acknowledge, resolve."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def send_alert(
        self, *, tenant_id: str, alert_type: str, severity: str, message: str, **optional: Any
    ) -> Any:
        """Enqueue an alert event; returns (or resolves to) the event id."""

        def work() -> str:
            result = send_alert.delay(
                tenant_id=tenant_id,
                alert_type=alert_type,
                severity=severity,
                message=message,
                **optional,
            )
            return str(result.id)

        return _maybe_async(work)

    def setup_escalation(
        self,
        alert_id: str | uuid.UUID,
        escalation_policy: str | None = None,
        escalation_levels: list[dict[str, Any]] | None = None,
        *,
        tenant_id: str | None = None,
    ) -> Any:
        """Attach a named policy (its levels replaced by ``escalation_levels`` when given), or
        inline levels alone; returns (or resolves to) the escalation id, None if one runs."""

        def work() -> str | None:
            from alerting.pipeline.escalation import setup_escalation
            from alerting.secrets import SecretBox

            with session_scope(self.settings.postgres_url) as session:
                escalation_id = setup_escalation(
                    session,
                    alert_id,
                    policy_name=escalation_policy,
                    levels=escalation_levels,
                    box=SecretBox.from_settings(self.settings),
                    actor="api:setup_escalation",
                    tenant_id=tenant_id,
                )
            return str(escalation_id) if escalation_id else None

        return _maybe_async(work)

    def acknowledge(
        self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
    ) -> Any:
        return _maybe_async(lambda: self._change(acknowledge_alert, alert_id, by, tenant_id))

    def resolve(self, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None) -> Any:
        return _maybe_async(lambda: self._change(resolve_alert, alert_id, by, tenant_id))

    def _change(
        self,
        action: Callable[..., LifecycleResult],
        alert_id: str | uuid.UUID,
        by: str,
        tenant_id: str | None,
    ) -> AlertState:
        if not by or not by.strip():
            raise ValueError("by: who acknowledges or resolves must be named")
        with session_scope(self.settings.postgres_url) as session:
            result = action(session, alert_id, by=by, tenant_id=tenant_id)
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
