"""Ingest: an event becomes a new alert, a repeat of an open one, or its resolution."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, AlertMessage, Notification
from alerting.db.repositories import audit, now, tenant_exists
from alerting.domain.errors import UnknownTenant
from alerting.domain.events import AlertEvent
from alerting.pipeline.integrate import queue_follow_ups

#: Event actions that produce Slack notifications. A repeat does only where the alert has a
#: Slack message to update (Web API mode); elsewhere it just counts.
NOTIFYING_ACTIONS = frozenset({"created", "acknowledged", "resolved"})


@dataclass(frozen=True, slots=True)
class IngestResult:
    event_id: uuid.UUID
    alert_id: uuid.UUID | None
    #: created | repeated | resolved | unmatched_resolve | duplicate
    action: str
    needs_routing: bool = False
    #: PagerDuty / ServiceNow calls to enqueue after commit (a resolve of a paged alert).
    integration_calls: tuple[uuid.UUID, ...] = ()


def producer_actor(event: AlertEvent) -> str:
    return f"producer:{event.source or 'unknown'}"


def ingest_event(session: Session, event: AlertEvent, *, event_id: uuid.UUID) -> IngestResult:
    """Store one event in the caller's transaction. Safe to run twice for the same event."""
    if not tenant_exists(session, event.tenant_id):
        raise UnknownTenant(event.tenant_id)
    actor = producer_actor(event)
    key = event.idempotency_key or str(event_id)
    inserted = session.execute(
        insert(AlertEventRow)
        .values(
            id=event_id,
            tenant_id=event.tenant_id,
            idempotency_key=key,
            action="received",
            actor=actor,
            payload=event.to_message(),
        )
        .on_conflict_do_nothing()
        .returning(AlertEventRow.id)
    ).scalar_one_or_none()
    if inserted is None:
        # Same idempotency key (or a redelivered message): the first one did the work.
        existing = session.execute(
            select(AlertEventRow.id, AlertEventRow.alert_id).where(
                AlertEventRow.tenant_id == event.tenant_id, AlertEventRow.idempotency_key == key
            )
        ).first()
        return IngestResult(
            existing.id if existing else event_id,
            existing.alert_id if existing else None,
            "duplicate",
        )

    fingerprint = event.fingerprint()
    current = now()
    # Never later than now: a time ahead of the clock would outrank every later event of the
    # alert (edges refuse far-future times; this also covers a skewed producer's few minutes).
    seen_at = min(event.occurred_at or current, current)
    alert_id: uuid.UUID | None
    calls: list[uuid.UUID] = []
    if event.status == "firing":
        alert_id, action = _upsert_firing(session, event, fingerprint, seen_at, current)
    else:
        resolved_id = session.execute(
            update(Alert)
            .where(
                Alert.tenant_id == event.tenant_id,
                Alert.fingerprint == fingerprint,
                Alert.status != "resolved",
            )
            .values(status="resolved", resolved_at=seen_at, resolved_by=actor, updated_at=now())
            .returning(Alert.id)
        ).scalar_one_or_none()
        alert_id = resolved_id
        action = "resolved" if resolved_id else "unmatched_resolve"
        if resolved_id is not None:
            calls = queue_follow_ups(
                session, session.get_one(Alert, resolved_id), action="resolve", actor=actor
            )

    notify = action in NOTIFYING_ACTIONS or (
        action == "repeated" and _repeat_notifies(session, alert_id)
    )
    session.execute(
        update(AlertEventRow)
        .where(AlertEventRow.id == event_id)
        .values(
            alert_id=alert_id,
            action=action,
            # Nothing to route: mark routed now so the sweeper never picks it up.
            routed_at=None if notify else now(),
        )
    )
    audit(
        session,
        tenant_id=event.tenant_id,
        alert_id=alert_id,
        actor=actor,
        action=f"alert.{action}",
        event_id=str(event_id),
        fingerprint=fingerprint,
        severity=event.severity.value,
    )
    return IngestResult(
        event_id, alert_id, action, needs_routing=notify, integration_calls=tuple(calls)
    )


def _upsert_firing(
    session: Session, event: AlertEvent, fingerprint: str, seen_at: datetime, current: datetime
) -> tuple[uuid.UUID, str]:
    stmt = insert(Alert).values(
        id=uuid.uuid4(),
        tenant_id=event.tenant_id,
        fingerprint=fingerprint,
        alert_type=event.alert_type,
        severity=event.severity.value,
        environment=event.environment,
        message=event.message,
        labels=event.labels,
        annotations=event.annotations,
        source=event.source,
        status="firing",
        count=1,
        first_seen_at=seen_at,
        last_seen_at=seen_at,
    )
    # The stored time as compared: one ahead of the clock (written before times were bounded)
    # is not believed, so that it cannot freeze the alert's text for ever.
    stored_seen = case(
        (Alert.last_seen_at > current, stmt.excluded.last_seen_at), else_=Alert.last_seen_at
    )
    newer = stmt.excluded.last_seen_at >= stored_seen
    # The partial unique index makes concurrent first events of one fingerprint fold into a
    # single alert instead of racing to create two.
    upsert = stmt.on_conflict_do_update(
        index_elements=[Alert.tenant_id, Alert.fingerprint],
        index_where=Alert.status != "resolved",
        set_={
            "count": Alert.count + 1,
            # Producers retry out of order; last seen never moves backwards.
            "last_seen_at": func.greatest(stored_seen, stmt.excluded.last_seen_at),
            # The text of the latest event wins, whatever order the workers took them in.
            "message": case((newer, stmt.excluded.message), else_=Alert.message),
            "annotations": case((newer, stmt.excluded.annotations), else_=Alert.annotations),
            "updated_at": current,
        },
    ).returning(Alert.id, Alert.count)
    row = session.execute(upsert).one()
    return row[0], ("created" if row[1] == 1 else "repeated")


def _repeat_notifies(session: Session, alert_id: uuid.UUID | None) -> bool:
    """A repeat updates the alert's Web API message; and it announces an alert that was muted
    when it fired (it has no firing notification), should nothing mute it any more."""
    has_message = exists().where(AlertMessage.alert_id == alert_id)
    unannounced = ~exists().where(Notification.alert_id == alert_id, Notification.kind == "firing")
    return session.scalar(select(or_(has_message, unannounced))) is True
