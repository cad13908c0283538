"""The sweeper: finds work accepted into Postgres that never reached (or left) the broker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, aliased

from alerting.breaker import BreakerState
from alerting.db.models import AlertEventRow, IntegrationCall, Notification
from alerting.db.repositories import now
from alerting.pipeline.deliver import breaker_for, claim_stale_seconds, release_next_held
from alerting.pipeline.integrate import claim_stale_seconds as integration_claim_stale
from alerting.settings import Settings

held = aliased(Notification)

#: Rows handled per sweep; the next sweep continues where a large backlog left off.
SWEEP_BATCH = 500


@dataclass(slots=True)
class SweepResult:
    #: (tenant id, event id) whose routing must be enqueued again.
    events: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: (tenant id, notification id) whose delivery must be enqueued again.
    notifications: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: (tenant id, integration call id) whose call must be enqueued again.
    integration_calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)


def _release_forgotten_queues(session: Session, settings: Settings) -> list[tuple[str, uuid.UUID]]:
    """Parked notifications whose destination has nothing in flight and a breaker that is not
    open: the delivery that should have released them died first. Release the oldest."""
    busy = (
        select(Notification.id)
        .where(
            Notification.tenant_id == held.tenant_id,
            Notification.channel == held.channel,
            Notification.state.in_(("pending", "sending", "retrying")),
        )
        .exists()
    )
    queues = session.execute(
        select(held.tenant_id, held.channel)
        .where(held.state == "held", ~busy)
        .group_by(held.tenant_id, held.channel)
        .limit(SWEEP_BATCH)
    ).all()
    breaker = breaker_for(settings)
    released: list[tuple[str, uuid.UUID]] = []
    for tenant_id, channel in queues:
        if breaker.state(tenant_id, channel)[0] is BreakerState.OPEN:
            continue
        released += [(tenant_id, nid) for nid in release_next_held(session, tenant_id, channel)]
    return released


def find_stuck_work(session: Session, settings: Settings) -> SweepResult:
    current = now()
    old = current - timedelta(seconds=settings.sweep_after_seconds)
    result = SweepResult()
    events = session.execute(
        select(AlertEventRow.tenant_id, AlertEventRow.id)
        .where(AlertEventRow.routed_at.is_(None), AlertEventRow.received_at < old)
        .order_by(AlertEventRow.received_at)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    result.events = [(row.tenant_id, row.id) for row in events]

    stale_claim = current - timedelta(
        seconds=claim_stale_seconds(settings) + settings.sweep_after_seconds
    )
    rows = session.execute(
        select(Notification.tenant_id, Notification.id)
        .where(
            or_(
                (Notification.state == "pending") & (Notification.updated_at < old),
                (Notification.state == "sending") & (Notification.claimed_at < stale_claim),
                (Notification.state == "retrying") & (Notification.next_attempt_at < old),
            )
        )
        .order_by(Notification.updated_at)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    result.notifications = [(row.tenant_id, row.id) for row in rows]
    result.notifications += _release_forgotten_queues(session, settings)
    if result.notifications:
        # Touch them so a long backlog is re-enqueued once per window, not at every sweep.
        session.execute(
            update(Notification)
            .where(Notification.id.in_([nid for _, nid in result.notifications]))
            .where(Notification.state == "pending")
            .values(updated_at=current)
        )
    result.integration_calls = _stuck_integration_calls(session, settings, old)
    return result


def _stuck_integration_calls(
    session: Session, settings: Settings, old: datetime
) -> list[tuple[str, uuid.UUID]]:
    """PagerDuty/ServiceNow calls whose task was lost: the same rules as notifications (the
    call's claim makes a duplicate harmless)."""
    current = now()
    stale_claim = current - timedelta(
        seconds=integration_claim_stale(settings) + settings.sweep_after_seconds
    )
    call = IntegrationCall
    rows = session.execute(
        select(call.tenant_id, call.id)
        .where(
            or_(
                (call.state == "pending")
                & (call.updated_at < old)
                & ((call.next_attempt_at.is_(None)) | (call.next_attempt_at < old)),
                (call.state == "sending") & (call.claimed_at < stale_claim),
                (call.state == "retrying") & (call.next_attempt_at < old),
            )
        )
        .order_by(call.updated_at)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    found = [(row.tenant_id, row.id) for row in rows]
    if found:
        session.execute(
            update(call)
            .where(call.id.in_([cid for _, cid in found]), call.state == "pending")
            .values(updated_at=current)
        )
    return found
