"""Flapping in the pipeline: hold a flapping fingerprint's changes, tell where it settled.

Routing asks :func:`hold_if_flapping` before writing a firing or resolved notification; beat's
group flush calls :func:`release_stable` to tell the state of fingerprints that have been quiet
for ``stable_for``. The rules are in ``alerting/domain/flapping.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, FlappingFingerprint
from alerting.db.repositories import add_event, add_notification, audit, now
from alerting.domain.flapping import FlappingConfig
from alerting.domain.views import NotificationKind

ACTOR = "system:flapping"
#: Fingerprints one release pass handles; the next pass continues.
RELEASE_BATCH = 100


@dataclass(frozen=True, slots=True)
class FlapDecision:
    #: The change is held back: write no notification.
    held: bool
    #: This firing made the fingerprint flapping (its message says so).
    started: bool = False


def hold_if_flapping(
    session: Session,
    config: FlappingConfig,
    alert: Alert,
    kind: NotificationKind,
    at: datetime,
) -> FlapDecision:
    """Whether a firing or a resolution of ``alert`` is held because its fingerprint flaps."""
    if kind not in (NotificationKind.FIRING, NotificationKind.RESOLVED):
        return FlapDecision(held=False)
    key = (alert.tenant_id, alert.fingerprint)
    row = session.get(FlappingFingerprint, key, with_for_update=True)
    if row is not None:
        row.held += 1
        row.alert_id = alert.id
        row.release_at = at + timedelta(seconds=config.stable_for)
        audit(
            session,
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            actor=ACTOR,
            action="alert.flapping_held",
            kind=kind.value,
            held=row.held,
        )
        return FlapDecision(held=True)
    if kind is not NotificationKind.FIRING or not config.enabled:
        return FlapDecision(held=False)
    fires = (
        session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(
                Alert.tenant_id == alert.tenant_id,
                Alert.fingerprint == alert.fingerprint,
                Alert.first_seen_at >= at - timedelta(seconds=config.window),
            )
        )
        or 0
    )
    if fires <= config.fires:
        return FlapDecision(held=False)
    started = session.execute(
        insert(FlappingFingerprint)
        .values(
            tenant_id=alert.tenant_id,
            fingerprint=alert.fingerprint,
            alert_id=alert.id,
            since=at,
            fires=fires,
            held=0,
            release_at=at + timedelta(seconds=config.stable_for),
        )
        .on_conflict_do_nothing()
        .returning(FlappingFingerprint.fingerprint)
    ).scalar_one_or_none()
    if started is None:
        # Another firing of the same fingerprint started it a moment ago: this one is held.
        return hold_if_flapping(session, config, alert, kind, at)
    audit(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        actor=ACTOR,
        action="alert.flapping",
        fires=fires,
        window=config.window,
    )
    return FlapDecision(held=False, started=True)


def flapping_context(
    session: Session, event_id: uuid.UUID, alert: Alert
) -> tuple[AlertEventRow, FlappingFingerprint | None]:
    """A notification's event and its alert's flapping row, in one round trip: delivery asks
    for both on every firing and resolved message."""
    event, flapping = session.execute(
        select(AlertEventRow, FlappingFingerprint)
        .outerjoin(
            FlappingFingerprint,
            (FlappingFingerprint.tenant_id == AlertEventRow.tenant_id)
            & (FlappingFingerprint.fingerprint == alert.fingerprint),
        )
        .where(AlertEventRow.id == event_id)
    ).one()
    return event, flapping


def release_stable(
    session: Session,
    channels_for: Callable[[Session, Alert], list[str]],
    *,
    batch: int = RELEASE_BATCH,
) -> list[tuple[str, uuid.UUID]]:
    """Tell the settled state of fingerprints quiet for their ``stable_for``; the
    notifications to deliver after commit. ``channels_for`` is routing's choice of channels."""
    current = now()
    rows = session.scalars(
        select(FlappingFingerprint)
        .where(FlappingFingerprint.release_at <= current)
        .order_by(FlappingFingerprint.release_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    out: list[tuple[str, uuid.UUID]] = []
    for row in rows:
        alert = session.get_one(Alert, row.alert_id)
        if row.held:
            kind = (
                NotificationKind.RESOLVED if alert.status == "resolved" else NotificationKind.FIRING
            )
            event_id = add_event(
                session,
                tenant_id=row.tenant_id,
                alert_id=alert.id,
                action="flapping_ended",
                actor=ACTOR,
                payload={"held": row.held, "fires": row.fires, "since": row.since.isoformat()},
                routed_at=current,
            )
            for channel in channels_for(session, alert):
                notification_id = add_notification(
                    session,
                    tenant_id=row.tenant_id,
                    alert_id=alert.id,
                    event_id=event_id,
                    kind=kind.value,
                    channel=channel,
                )
                if notification_id is not None:
                    out.append((row.tenant_id, notification_id))
        audit(
            session,
            tenant_id=row.tenant_id,
            alert_id=alert.id,
            actor=ACTOR,
            action="alert.flapping_ended",
            held=row.held,
            status=alert.status,
        )
        session.delete(row)
    return out
