"""Grouping: alerts of a route with equal ``group_by`` labels become one message, a digest.

Routing adds an alert to its group (one open group per tenant, route and label values) and
schedules the group's next digest; beat's group flush claims due groups with
``FOR UPDATE SKIP LOCKED`` and writes one ``digest`` notification per channel, in the same
transaction that records which members it tells. A storm of ten thousand alerts in a few groups
is a few messages; every member is accounted for in a digest (``told_in``).

Timings are Alertmanager's: the first digest waits ``group_wait`` for siblings; later changes
(new members, resolutions) are told no sooner than ``group_interval`` after the previous
digest; while members still fire, a reminder comes every ``repeat_interval``. In Web API mode
the group's message is updated in place and each digest adds a thread reply naming what is new.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertGroup, AlertGroupMember, Notification
from alerting.db.repositories import add_event, add_notification, audit, now
from alerting.domain.events import Severity
from alerting.domain.matchers import ALERT_TYPE
from alerting.domain.priority import is_urgent_severity
from alerting.domain.views import NotificationKind

#: Groups one flush handles; the next flush continues (ordered by due time).
FLUSH_BATCH = 100
#: ``group_by: ["..."]`` groups by every label, as in Alertmanager.
ALL_LABELS = "..."
ACTOR = "system:grouping"
#: Route path prefix of adaptive pressure groups (alerting/pipeline/fold.py).
PRESSURE_PREFIX = "fold:"
#: Acknowledged members a digest's thread line names.
ACKNOWLEDGED_NAMED = 5
#: Severity order for "top N": criticals first.
SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """What routing knows of a group: a matched route's grouping settings."""

    route_path: str
    group_by: tuple[str, ...]
    channels: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    mention: str | None = None

    def labels_of(self, facts: Mapping[str, str]) -> dict[str, str]:
        if ALL_LABELS in self.group_by:
            return dict(sorted(facts.items()))
        # `alertname`, as Alertmanager users write it, is the alert's type.
        return {
            name: facts.get(name) or (facts.get(ALERT_TYPE, "") if name == "alertname" else "")
            for name in self.group_by
        }

    def key_of(self, labels: Mapping[str, str]) -> str:
        raw = json.dumps([self.route_path, sorted(labels.items())], separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class FlushResult:
    #: (tenant id, notification id) to deliver, after commit.
    notifications: list[tuple[str, uuid.UUID]]
    #: Digests written: the tenant of each.
    digests: list[str]
    #: Members told for the first time.
    told: int = 0
    #: Digests of groups led by a critical or error alert: they take the urgent lane.
    urgent: frozenset[uuid.UUID] = frozenset()


def join_group(
    session: Session, alert: Alert, spec: GroupSpec, facts: Mapping[str, str]
) -> uuid.UUID:
    """Add a new alert to its group (opening it) and schedule the group's next digest."""
    labels = spec.labels_of(facts)
    current = now()
    settings: dict[str, Any] = {
        "channels": list(spec.channels),
        # JSONB keeps keys in its own order: this one is the route's, used to name the group.
        "group_by": list(labels),
        "mention": spec.mention,
        "group_wait": spec.group_wait,
        "group_interval": spec.group_interval,
        "repeat_interval": spec.repeat_interval,
    }
    # The upsert takes the group's row lock: concurrent members of one group queue here for
    # the length of a routing transaction, and the schedule below is computed under it.
    group = session.execute(
        insert(AlertGroup)
        .values(
            id=uuid.uuid4(),
            tenant_id=alert.tenant_id,
            group_key=spec.key_of(labels),
            route_path=spec.route_path,
            group_labels=labels,
            settings=settings,
            lead_alert_id=alert.id,
            state="open",
            next_flush_at=current + timedelta(seconds=spec.group_wait),
            flushes=0,
        )
        .on_conflict_do_update(
            index_elements=[AlertGroup.tenant_id, AlertGroup.group_key],
            index_where=AlertGroup.state == "open",
            set_={"updated_at": current},
        )
        .returning(AlertGroup)
    ).scalar_one()
    session.execute(
        insert(AlertGroupMember)
        .values(group_id=group.id, alert_id=alert.id)
        .on_conflict_do_nothing()
    )
    _schedule_change(group, current)
    return group.id


def touch_groups(session: Session, alert_id: uuid.UUID) -> None:
    """An alert's state changed (acknowledged, resolved): its open groups tell it in their
    next digest."""
    groups = session.scalars(
        select(AlertGroup)
        .join(AlertGroupMember, AlertGroupMember.group_id == AlertGroup.id)
        .where(AlertGroupMember.alert_id == alert_id, AlertGroup.state == "open")
        .with_for_update(of=AlertGroup)
    ).all()
    current = now()
    for group in groups:
        _schedule_change(group, current)


def is_grouped(session: Session, alert_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(AlertGroupMember.group_id).where(AlertGroupMember.alert_id == alert_id).limit(1)
        )
        is not None
    )


def _schedule_change(group: AlertGroup, current: datetime) -> None:
    """A change is told at the next digest: the first one (group_wait, already set), or no
    sooner than ``group_interval`` after the last, pulling a later reminder forward."""
    if group.last_flush_at is None:
        return
    soonest = group.last_flush_at + timedelta(seconds=float(group.settings["group_interval"]))
    due = max(soonest, current)
    if group.next_flush_at is None or group.next_flush_at > due:
        group.next_flush_at = due
    group.updated_at = current


def flush_due_groups(session: Session, *, batch: int = FLUSH_BATCH) -> FlushResult:
    """Write the digests of groups whose time has come (what beat runs every
    ``ALERTING_GROUP_TICK`` seconds). Safe to run concurrently: rows are claimed skip-locked."""
    current = now()
    groups = session.scalars(
        select(AlertGroup)
        .where(AlertGroup.state == "open", AlertGroup.next_flush_at <= current)
        .order_by(AlertGroup.next_flush_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    notifications: list[tuple[str, uuid.UUID]] = []
    digests: list[str] = []
    told = 0
    urgent: set[uuid.UUID] = set()
    for group in groups:
        written, newly_told = _flush(session, group, current)
        if written is None:
            continue
        ids = written
        digests.append(group.tenant_id)
        told += newly_told
        notifications.extend((group.tenant_id, i) for i in ids)
        lead = session.scalar(select(Alert.severity).where(Alert.id == group.lead_alert_id))
        if is_urgent_severity(lead or "info"):
            urgent.update(ids)
    return FlushResult(notifications, digests, told, frozenset(urgent))


def _flush(
    session: Session, group: AlertGroup, current: datetime
) -> tuple[list[uuid.UUID] | None, int]:
    """The digest's notifications (None: nothing to tell) and how many members it told."""
    if group.route_path.startswith(PRESSURE_PREFIX) and _digest_in_flight(session, group.id):
        # A pressure digest is rendered when it is sent, as the group is then: while one is
        # still waiting for its slot, another would only queue behind it. The group stays
        # due, and its next digest tells what this one could not name.
        return None, 0
    stats = group_stats(session, group.id)
    member = AlertGroupMember
    is_new = member.told_in.is_(None)
    newly_resolved = (
        member.resolved_in.is_(None),
        member.alert_id.in_(select(Alert.id).where(Alert.status == "resolved")),
    )
    count = select(func.count()).select_from(member).where(member.group_id == group.id)
    new_count = session.scalar(count.where(is_new)) or 0
    resolved_count = session.scalar(count.where(*newly_resolved)) or 0
    acknowledged = _acknowledged_since(session, group)
    firing = stats["firing"] + stats["acknowledged"]
    reminder = new_count == 0 and resolved_count == 0 and not acknowledged
    if reminder and firing == 0:
        # Nothing left to tell (every member's resolution was told already).
        group.state = "closed"
        group.next_flush_at = None
        return None, 0
    group.flushes += 1
    session.execute(
        update(member).where(member.group_id == group.id, is_new).values(told_in=group.flushes)
    )
    session.execute(
        update(member)
        .where(member.group_id == group.id, *newly_resolved)
        .values(resolved_in=group.flushes)
    )
    group.last_flush_at = current
    group.updated_at = current
    if firing:
        group.next_flush_at = current + timedelta(seconds=float(group.settings["repeat_interval"]))
    else:
        group.state = "closed"
        group.next_flush_at = None
    payload = {
        "group_id": str(group.id),
        "digest": group.flushes,
        "new": new_count,
        "resolved": resolved_count,
        "reminder": reminder,
        "acknowledged_since": len(acknowledged),
        "acknowledged_ids": [str(a) for a in acknowledged[:ACKNOWLEDGED_NAMED]],
        **stats,
    }
    event_id = add_event(
        session,
        tenant_id=group.tenant_id,
        alert_id=group.lead_alert_id,
        action="digest",
        actor=ACTOR,
        payload=payload,
        routed_at=current,
    )
    ids = [
        notification_id
        for channel in group.settings["channels"]
        if (
            notification_id := add_notification(
                session,
                tenant_id=group.tenant_id,
                alert_id=group.lead_alert_id,
                event_id=event_id,
                kind=NotificationKind.DIGEST.value,
                channel=channel,
                group_id=group.id,
            )
        )
        is not None
    ]
    audit(
        session,
        tenant_id=group.tenant_id,
        alert_id=group.lead_alert_id,
        actor=ACTOR,
        action="group.digest",
        channels=list(group.settings["channels"]),
        **payload,
    )
    return ids, new_count


def _digest_in_flight(session: Session, group_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(Notification.id)
            .where(
                Notification.group_id == group_id,
                Notification.kind == NotificationKind.DIGEST.value,
                Notification.state.in_(("pending", "sending", "retrying", "held")),
            )
            .limit(1)
        )
        is not None
    )


def _acknowledged_since(session: Session, group: AlertGroup) -> list[uuid.UUID]:
    """Members acknowledged since the group's last digest (its thread tells who)."""
    if group.last_flush_at is None:
        return []
    return list(
        session.scalars(
            select(Alert.id)
            .join(AlertGroupMember, AlertGroupMember.alert_id == Alert.id)
            .where(
                AlertGroupMember.group_id == group.id,
                Alert.status == "acknowledged",
                Alert.acknowledged_at > group.last_flush_at,
            )
            .order_by(Alert.acknowledged_at)
        )
    )


def group_stats(session: Session, group_id: uuid.UUID) -> dict[str, int]:
    """Members by status, and the occurrences they add up to."""
    rows = session.execute(
        select(Alert.status, func.count(), func.coalesce(func.sum(Alert.count), 0))
        .join(AlertGroupMember, AlertGroupMember.alert_id == Alert.id)
        .where(AlertGroupMember.group_id == group_id)
        .group_by(Alert.status)
    ).all()
    stats = {"firing": 0, "acknowledged": 0, "resolved": 0, "members": 0, "occurrences": 0}
    for status, count, occurrences in rows:
        stats[status] = int(count)
        stats["members"] += int(count)
        stats["occurrences"] += int(occurrences)
    return stats


def open_by_severity(session: Session, group_id: uuid.UUID) -> tuple[tuple[Severity, int], ...]:
    """Members still open, counted by severity, most severe first."""
    rows = session.execute(
        select(Alert.severity, func.count())
        .join(AlertGroupMember, AlertGroupMember.alert_id == Alert.id)
        .where(AlertGroupMember.group_id == group_id, Alert.status != "resolved")
        .group_by(Alert.severity)
    ).all()
    counts = {Severity(severity): int(count) for severity, count in rows}
    return tuple((severity, counts[severity]) for severity in Severity if severity in counts)


def top_members(session: Session, group_id: uuid.UUID, limit: int) -> list[Alert]:
    """The members a digest lists: still firing first, worst severity first, then by labels."""
    rank = case(SEVERITY_RANK, value=Alert.severity, else_=9)
    resolved_last = case((Alert.status == "resolved", 1), else_=0)
    return list(
        session.scalars(
            select(Alert)
            .join(AlertGroupMember, AlertGroupMember.alert_id == Alert.id)
            .where(AlertGroupMember.group_id == group_id)
            .order_by(resolved_last, rank, Alert.alert_type, Alert.labels.cast(Text), Alert.id)
            .limit(limit)
        )
    )


def new_members(
    session: Session, group_id: uuid.UUID, digest: int, limit: int
) -> tuple[list[Alert], int]:
    """Members a given digest told for the first time (for the thread reply), and how many."""
    where = (AlertGroupMember.group_id == group_id, AlertGroupMember.told_in == digest)
    total = session.scalar(select(func.count()).select_from(AlertGroupMember).where(*where)) or 0
    shown = session.scalars(
        select(Alert)
        .join(AlertGroupMember, AlertGroupMember.alert_id == Alert.id)
        .where(*where)
        .order_by(case(SEVERITY_RANK, value=Alert.severity, else_=9), Alert.alert_type)
        .limit(limit)
    ).all()
    return list(shown), int(total)


def changed_members(
    session: Session, group_id: uuid.UUID, digest: int, payload: Mapping[str, Any]
) -> list[Alert]:
    """Members whose resolution a digest tells, and those it names as acknowledged."""
    acknowledged = [uuid.UUID(str(i)) for i in payload.get("acknowledged_ids", [])]
    resolved = select(AlertGroupMember.alert_id).where(
        AlertGroupMember.group_id == group_id, AlertGroupMember.resolved_in == digest
    )
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.id.in_(resolved.limit(5)) | Alert.id.in_(acknowledged))
            .order_by(Alert.alert_type, Alert.id)
        )
    )
