"""Route: an event that needs telling becomes one notification row per channel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, AlertMessage, Notification
from alerting.db.repositories import add_notification, audit, load_tenant, now
from alerting.domain.events import Severity
from alerting.domain.routing import SlackChannelRouter
from alerting.domain.tenants import TenantConfig
from alerting.domain.views import NotificationKind
from alerting.pipeline.escalation import start_escalation
from alerting.pipeline.muting import mute_check
from alerting.secrets import SecretBox

_KIND_BY_ACTION = {
    "created": NotificationKind.FIRING,
    "repeated": NotificationKind.REPEATED,
    "acknowledged": NotificationKind.ACKNOWLEDGED,
    "resolved": NotificationKind.RESOLVED,
    "silenced": NotificationKind.SILENCED,
}


@dataclass(frozen=True, slots=True)
class RouteResult:
    tenant_id: str
    #: Notifications still waiting for delivery, to enqueue after commit.
    notification_ids: list[uuid.UUID]
    #: Whether routing attached an escalation policy (for the metrics, after commit).
    escalation_started: bool = False
    #: Why its notifications were held back (a MuteReason value), for the metrics.
    muted: str | None = None


def route_event(session: Session, event_id: uuid.UUID, box: SecretBox) -> RouteResult | None:
    """Write the event's notifications. Running it again returns the same pending ones."""
    event = session.execute(
        select(AlertEventRow).where(AlertEventRow.id == event_id).with_for_update()
    ).scalar_one_or_none()
    if event is None or event.alert_id is None:
        return None
    started = False
    mute = None
    if event.routed_at is None:
        kind = _KIND_BY_ACTION.get(event.action)
        if kind is not None:
            # Loaded at most once per event: both the channels and the policy may need it.
            tenant = cache(lambda: load_tenant(session, event.tenant_id, box).config)
            kind, mute = mute_check(session, tenant, event, kind, now())
            channels = [] if mute else _channels_for(session, event, kind, tenant)
            for channel in channels:
                add_notification(
                    session,
                    tenant_id=event.tenant_id,
                    alert_id=event.alert_id,
                    event_id=event.id,
                    kind=kind.value,
                    channel=channel,
                )
            audit(
                session,
                tenant_id=event.tenant_id,
                alert_id=event.alert_id,
                actor="system:router",
                action="alert.routed",
                event_id=str(event.id),
                kind=kind.value,
                channels=channels,
            )
            if kind is NotificationKind.FIRING and mute is None:
                started = _attach_policy(session, event, tenant())
        event.routed_at = now()
    pending = session.scalars(
        select(Notification.id)
        .where(Notification.event_id == event.id, Notification.state == "pending")
        .order_by(Notification.created_at, Notification.channel)
    ).all()
    return RouteResult(event.tenant_id, list(pending), started, mute.reason.value if mute else None)


def _attach_policy(session: Session, event: AlertEventRow, tenant: TenantConfig) -> bool:
    """A new alert whose severity has a policy starts climbing it."""
    alert = session.get_one(Alert, event.alert_id)
    name = tenant.severity_policies.get(Severity(alert.severity))
    if name is None:
        return False
    policy = tenant.escalation_policies[name]
    return start_escalation(session, alert, name, policy, actor="system:router") is not None


def _channels_for(
    session: Session,
    event: AlertEventRow,
    kind: NotificationKind,
    tenant: Callable[[], TenantConfig],
) -> list[str]:
    if kind is NotificationKind.REPEATED:
        # Only messages that can be updated; and one waiting update per channel is enough,
        # since it shows the count as it is when it is sent (a storm costs one update).
        # FOR UPDATE waits for a delivery claiming one of them right now, then sees it as
        # `sending`: a claim that rendered the old count never swallows this repeat.
        waiting = set(
            session.scalars(
                select(Notification.channel)
                .where(
                    Notification.alert_id == event.alert_id,
                    Notification.kind == NotificationKind.REPEATED.value,
                    Notification.state.in_(("pending", "retrying")),
                )
                .with_for_update()
            )
        )
        return [
            channel
            for channel in session.scalars(
                select(AlertMessage.channel)
                .where(AlertMessage.alert_id == event.alert_id)
                .order_by(AlertMessage.id)
            )
            if channel not in waiting
        ]
    if kind is not NotificationKind.FIRING:
        # Follow-ups go where the alert was announced, so the reader sees the whole story.
        announced = session.scalars(
            select(Notification.channel)
            .where(
                Notification.alert_id == event.alert_id,
                Notification.kind == NotificationKind.FIRING.value,
                Notification.state.not_in(("dead", "rerouted")),
            )
            .order_by(Notification.created_at)
        ).all()
        if announced:
            return list(dict.fromkeys(announced))
    alert = session.get_one(Alert, event.alert_id)
    router = SlackChannelRouter(tenant())
    return router.channels_for(severity=Severity(alert.severity), environment=alert.environment)
