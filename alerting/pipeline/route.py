"""Route: an event that needs telling becomes one notification row per channel."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, AlertMessage, Notification
from alerting.db.repositories import add_notification, audit, load_tenant, now
from alerting.domain.events import Severity
from alerting.domain.matchers import alert_facts
from alerting.domain.muting import Mute
from alerting.domain.priority import is_urgent_severity
from alerting.domain.routing import RouteMatch, SlackChannelRouter
from alerting.domain.tenants import TenantConfig
from alerting.domain.views import NotificationKind
from alerting.pipeline.correlate import (
    Joined,
    correlate_alert,
    correlates,
    refresh_incident_of,
    tell_in_incident,
)
from alerting.pipeline.escalation import start_escalation
from alerting.pipeline.flapping import hold_if_flapping
from alerting.pipeline.grouping import GroupSpec, is_grouped, join_group, touch_groups
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
    #: Deliveries take the tenant's urgent lane (critical and error alerts).
    urgent: bool = False


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
            started, mute = _route(session, event, kind, box)
        event.routed_at = now()
    pending = session.scalars(
        select(Notification.id)
        .where(Notification.event_id == event.id, Notification.state == "pending")
        .order_by(Notification.created_at, Notification.channel)
    ).all()
    severity = session.scalar(select(Alert.severity).where(Alert.id == event.alert_id))
    return RouteResult(
        event.tenant_id,
        list(pending),
        started,
        mute.reason.value if mute else None,
        urgent=bool(pending) and is_urgent_severity(severity or "info"),
    )


def _route(
    session: Session, event: AlertEventRow, kind: NotificationKind, box: SecretBox
) -> tuple[bool, Mute | None]:
    """Notifications (or group changes) for one event: whether an escalation started, and
    what muted the event if something did."""
    assert event.alert_id is not None
    alert = session.get_one(Alert, event.alert_id)
    # Loaded and matched at most once per event: channels, groups and policy all need them.
    tenant = cache(lambda: load_tenant(session, event.tenant_id, box).config)
    matches = cache(lambda: route_matches(alert, tenant()))
    groups: list[str] = []
    mute: Mute | None = None
    grouped_repeat = kind is NotificationKind.REPEATED and is_grouped(session, alert.id)
    if not grouped_repeat:
        # A grouped alert's repeats only raise the count its group's digests show.
        kind, mute = mute_check(session, tenant, event, kind, now())
    channels: list[str]
    mentions: dict[str, str] = {}
    joined: Joined | None = None
    if event.action == "created" and correlates(tenant()):
        # Every firing alert is placed in an incident, muted or not.
        joined = correlate_alert(session, alert, tenant())
    if mute is not None or grouped_repeat:
        channels = []
    elif kind is NotificationKind.FIRING and joined is not None:
        # The incident's message tells it, not a message of its own.
        own = [m for m in matches() if m.group_by is None]
        mention = next(iter(_mentions(own).values()), None)
        group = tell_in_incident(
            session,
            alert,
            joined.incident_id,
            _channels(own),
            mention,
            tenant(),
            material=joined.material,
        )
        groups.append(str(group))
        channels = []
    elif kind is NotificationKind.FIRING:
        facts = _facts(alert)
        for found in matches():
            if found.group_by is not None:
                groups.append(str(join_group(session, alert, _group_spec(found), facts)))
        channels = _channels(m for m in matches() if m.group_by is None)
        mentions = _mentions(m for m in matches() if m.group_by is None)
    else:
        if kind in (NotificationKind.ACKNOWLEDGED, NotificationKind.RESOLVED):
            # Grouped: the groups' next digest tells the change.
            touch_groups(session, alert.id)
            refresh_incident_of(session, alert.id)
        channels = _follow_up_channels(session, event, alert, kind, matches)
    # Only firings and resolutions can be held; the check answers at once for other kinds.
    if channels and hold_if_flapping(session, tenant().flapping, alert, kind, now()).held:
        channels = []
    for channel in channels:
        add_notification(
            session,
            tenant_id=event.tenant_id,
            alert_id=alert.id,
            event_id=event.id,
            kind=kind.value,
            channel=channel,
            mention=mentions.get(channel),
        )
    audit(
        session,
        tenant_id=event.tenant_id,
        alert_id=alert.id,
        actor="system:router",
        action="alert.routed",
        event_id=str(event.id),
        kind=kind.value,
        channels=channels,
        **({"groups": groups} if groups else {}),
    )
    if kind is NotificationKind.FIRING and mute is None and (joined is None or joined.opened):
        # Escalation follows the incident: its first member climbs the policy, not each one.
        return _attach_policy(session, alert, tenant(), matches()), None
    return False, mute


def _attach_policy(
    session: Session, alert: Alert, tenant: TenantConfig, matches: list[RouteMatch]
) -> bool:
    """A new alert whose route or severity names a policy starts climbing it."""
    # A policy named by the alert's route is the more specific choice.
    routed = [m.escalation_policy for m in matches if m.escalation_policy]
    name = routed[0] if routed else tenant.severity_policies.get(Severity(alert.severity))
    if name is None:
        return False
    policy = tenant.escalation_policies[name]
    return start_escalation(session, alert, name, policy, actor="system:router") is not None


def _follow_up_channels(
    session: Session,
    event: AlertEventRow,
    alert: Alert,
    kind: NotificationKind,
    matches: Callable[[], list[RouteMatch]],
) -> list[str]:
    # Follow-ups go where the alert was announced, so the reader sees the whole story.
    announced = session.scalars(
        select(Notification.channel)
        .where(
            Notification.alert_id == event.alert_id,
            Notification.kind == NotificationKind.FIRING.value,
            # A folded alert's changes are told in its channel's digest thread instead.
            Notification.state.not_in(("dead", "rerouted", "folded")),
        )
        .order_by(Notification.created_at)
    ).all()
    if kind is NotificationKind.REPEATED:
        # Only the alert's own messages that can be updated (a group's message, kept under
        # its first member, is the digest's to rewrite); and one waiting update per channel
        # is enough, since it shows the count as it is when it is sent (a storm costs one
        # update). FOR UPDATE waits for a delivery claiming one of them right now, then sees
        # it as `sending`: a claim that rendered the old count never swallows this repeat.
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
            if channel in announced and channel not in waiting
        ]
    if announced:
        return list(dict.fromkeys(announced))
    if is_grouped(session, alert.id):
        # Told in its group's digests only: the group's next digest tells this change too.
        return []
    return _channels(m for m in matches() if m.group_by is None)


def _channels(matches: Iterable[RouteMatch]) -> list[str]:
    return list(dict.fromkeys(channel for m in matches for channel in m.channels))


def _facts(alert: Alert) -> dict[str, str]:
    return alert_facts(
        alert_type=alert.alert_type,
        severity=alert.severity,
        environment=alert.environment,
        labels=alert.labels,
    )


def _group_spec(found: RouteMatch) -> GroupSpec:
    assert found.group_by is not None
    return GroupSpec(
        route_path=found.path,
        group_by=found.group_by,
        channels=found.channels,
        group_wait=found.group_wait,
        group_interval=found.group_interval,
        repeat_interval=found.repeat_interval,
        mention=found.mention,
    )


def route_matches(alert: Alert, tenant: TenantConfig) -> list[RouteMatch]:
    return SlackChannelRouter(tenant).match(_facts(alert))


def _mentions(matches: Iterable[RouteMatch]) -> dict[str, str]:
    """The mention of each channel a new alert goes to, from the first route naming both."""
    mentions: dict[str, str] = {}
    for found in matches:
        if found.mention:
            for channel in found.channels:
                mentions.setdefault(channel, found.mention)
    return mentions


def settled_channels(session: Session, alert: Alert, box: SecretBox) -> list[str]:
    """Where a flapping alert's settled state is told: its routes' own channels."""
    tenant = load_tenant(session, alert.tenant_id, box).config
    return _channels(m for m in route_matches(alert, tenant) if m.group_by is None)
