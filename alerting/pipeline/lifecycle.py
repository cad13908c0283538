"""Acknowledge and resolve by a person (CLI, HTTP API, SlackAlertManager)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow
from alerting.db.repositories import add_event, audit, now
from alerting.domain.errors import AlertingError
from alerting.pipeline.integrate import queue_follow_ups


class AlertNotFound(AlertingError, LookupError):
    def __init__(self, alert_id: str) -> None:
        super().__init__(f"alert_id: no alert {alert_id!r}")


class InvalidTransition(AlertingError, ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    alert_id: uuid.UUID
    tenant_id: str
    status: str
    #: The lifecycle event to route (notify), or None when nothing changed.
    event_id: uuid.UUID | None
    #: Seconds from the alert's first event to this change, when it changed.
    elapsed: float | None = None
    #: PagerDuty / ServiceNow calls to enqueue after commit.
    integration_calls: tuple[uuid.UUID, ...] = ()


def parse_alert_id(value: str | uuid.UUID) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError:
        raise AlertNotFound(value) from None


def find_alert(
    session: Session,
    alert_or_event_id: str | uuid.UUID,
    *,
    tenant_id: str | None = None,
    for_update: bool = False,
) -> Alert:
    """An alert by its id or by the id of any of its events (what ``send_alert`` returns).

    With ``tenant_id`` another tenant's alert is reported as not found, never as forbidden, so
    ids cannot be probed across tenants.
    """
    ident = parse_alert_id(alert_or_event_id)
    alert_id = ident
    if session.get(Alert, ident) is None:
        by_event = session.scalar(select(AlertEventRow.alert_id).where(AlertEventRow.id == ident))
        if by_event is None:
            raise AlertNotFound(str(alert_or_event_id))
        alert_id = by_event
    query = select(Alert).where(Alert.id == alert_id)
    if tenant_id is not None:
        query = query.where(Alert.tenant_id == tenant_id)
    if for_update:
        # populate_existing: the row was read unlocked just above, and the identity map would
        # otherwise hand back that stale read, not the state the lock now guards.
        query = query.with_for_update().execution_options(populate_existing=True)
    alert = session.scalars(query).one_or_none()
    if alert is None:
        raise AlertNotFound(str(alert_or_event_id))
    return alert


def acknowledge_alert(
    session: Session, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
) -> LifecycleResult:
    alert = find_alert(session, alert_id, tenant_id=tenant_id, for_update=True)
    if alert.status == "resolved":
        raise InvalidTransition(f"alert {alert.id} is already resolved; it cannot be acknowledged")
    if alert.status == "acknowledged":
        return LifecycleResult(alert.id, alert.tenant_id, alert.status, None)
    alert.status = "acknowledged"
    alert.acknowledged_at = now()
    alert.acknowledged_by = by
    alert.updated_at = now()
    return _record(session, alert, "acknowledged", by)


def resolve_alert(
    session: Session, alert_id: str | uuid.UUID, *, by: str, tenant_id: str | None = None
) -> LifecycleResult:
    alert = find_alert(session, alert_id, tenant_id=tenant_id, for_update=True)
    if alert.status == "resolved":
        return LifecycleResult(alert.id, alert.tenant_id, alert.status, None)
    alert.status = "resolved"
    alert.resolved_at = now()
    alert.resolved_by = by
    alert.updated_at = now()
    return _record(session, alert, "resolved", by)


def _record(session: Session, alert: Alert, action: str, actor: str) -> LifecycleResult:
    event_id = add_event(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        action=action,
        actor=actor,
        payload={"status": action, "by": actor},
    )
    audit(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        actor=actor,
        action=f"alert.{action}",
        event_id=str(event_id),
    )
    # In step with the alert: systems its escalation paged hear about the change too.
    calls = queue_follow_ups(
        session, alert, action="acknowledge" if action == "acknowledged" else "resolve", actor=actor
    )
    elapsed = (now() - alert.first_seen_at).total_seconds()
    return LifecycleResult(alert.id, alert.tenant_id, alert.status, event_id, elapsed, tuple(calls))
