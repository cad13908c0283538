"""SlackEscalationManager's work: start escalations, and the beat tick that climbs them.

Escalations are rows with their next due time. The tick claims due rows with
``FOR UPDATE SKIP LOCKED`` (two beats or workers never take the same row), re-reads the alert
as it is now, and in the same transaction writes the level's notifications and moves the row
to its next level: a level is notified exactly once, whatever crashes around it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, Escalation, Tenant
from alerting.db.repositories import add_event, add_notification, audit, load_tenant, now
from alerting.domain.errors import AlertingError, InvalidInput, pydantic_problems
from alerting.domain.escalation import (
    EscalationLevel,
    EscalationPolicy,
    Step,
    after_notify,
    decide,
    unconfigured_integrations,
)
from alerting.domain.oncall import OncallSchedule, oncall_schedule_name, who_is_on_call
from alerting.domain.views import NotificationKind
from alerting.pipeline.integrate import queue_call
from alerting.pipeline.lifecycle import find_alert
from alerting.pipeline.muting import MutingConfigs, mute_for
from alerting.secrets import SecretBox

#: Rows one tick handles; the next tick continues (they are ordered by due time).
TICK_BATCH = 200
#: Seconds a due escalation of a muted alert waits before it looks again.
MUTED_RECHECK_SECONDS = 10
ACTOR = "system:escalation"

log = logging.getLogger(__name__)

_SCHEDULES = TypeAdapter(dict[str, OncallSchedule])


@dataclass(frozen=True, slots=True)
class TickResult:
    #: (tenant id, notification id) to deliver, after commit.
    notifications: list[tuple[str, uuid.UUID]]
    handled: int
    #: (tenant id, step) for the metrics, counted after commit.
    steps: list[tuple[str, str]] = field(default_factory=list)
    #: (tenant id, integration call id) to send, after commit.
    integration_calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)


def start_escalation(
    session: Session, alert: Alert, policy_name: str, policy: EscalationPolicy, *, actor: str
) -> uuid.UUID | None:
    """Attach a policy (snapshotted) to an alert; None when it already climbs one."""
    started = now()
    escalation_id = session.execute(
        insert(Escalation)
        .values(
            id=uuid.uuid4(),
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            policy_name=policy_name,
            policy=policy.model_dump(mode="json"),
            started_at=started,
            level=0,
            repeats_done=0,
            next_at=started + timedelta(seconds=policy.levels[0].delay),
            state="active",
        )
        .on_conflict_do_nothing()
        .returning(Escalation.id)
    ).scalar_one_or_none()
    if escalation_id is not None:
        audit(
            session,
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            actor=actor,
            action="escalation.started",
            policy=policy_name,
            levels=len(policy.levels),
        )
    return escalation_id


def setup_escalation(
    session: Session,
    alert_id: str | uuid.UUID,
    *,
    policy_name: str | None,
    levels: list[dict[str, object]] | None,
    box: SecretBox,
    actor: str,
    tenant_id: str | None = None,
) -> uuid.UUID | None:
    """The original API: a named policy of the alert's tenant, its levels replaced by inline
    ``levels`` when given (or inline levels alone)."""
    alert = find_alert(session, alert_id, tenant_id=tenant_id, for_update=True)
    tenant = load_tenant(session, alert.tenant_id, box).config
    base = tenant.escalation_policies.get(policy_name) if policy_name else None
    if policy_name and base is None and not levels:
        raise InvalidInput(
            "setup_escalation", [("escalation_policy", f"no policy named {policy_name!r}")]
        )
    try:
        policy = EscalationPolicy.model_validate(
            {
                **(base.model_dump() if base else {}),
                **({"levels": levels} if levels else {}),
            }
        )
    except ValidationError as exc:
        raise InvalidInput("setup_escalation", pydantic_problems(exc)) from None
    missing = unconfigured_integrations(
        policy.levels, tenant.integrations.configured(), path="levels"
    )
    if missing:
        raise InvalidInput("setup_escalation", missing)
    if alert.status == "resolved":
        raise AlertingError(f"alert {alert.id} is resolved; there is nothing to escalate")
    return start_escalation(session, alert, policy_name or "inline", policy, actor=actor)


def tick(session: Session, *, batch: int = TICK_BATCH) -> TickResult:
    current = now()
    due = session.scalars(
        select(Escalation)
        .where(Escalation.state == "active", Escalation.next_at <= current)
        .order_by(Escalation.next_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    to_deliver: list[tuple[str, uuid.UUID]] = []
    steps: list[tuple[str, str]] = []
    calls: list[tuple[str, uuid.UUID]] = []
    tenants = MutingConfigs(session)
    schedules: dict[str, dict[str, OncallSchedule]] = {}
    # One query for the batch's alerts instead of one per row: a tick handles hundreds.
    alerts = {
        alert.id: alert
        for alert in session.scalars(select(Alert).where(Alert.id.in_([e.alert_id for e in due])))
    }
    for escalation in due:
        if escalation.tenant_id not in schedules:
            schedules[escalation.tenant_id] = oncall_schedules(session, escalation.tenant_id)
        created, step = _advance(
            session,
            escalation,
            alerts[escalation.alert_id],
            current,
            calls,
            tenants,
            schedules[escalation.tenant_id],
        )
        to_deliver += created
        steps.append((escalation.tenant_id, step))
        if step == "level":
            log.info(
                "escalation fired: alert %s of tenant %s, policy %s, %s notifications",
                escalation.alert_id,
                escalation.tenant_id,
                escalation.policy_name,
                len(created),
            )
    return TickResult(to_deliver, len(due), steps, calls)


def oncall_schedules(session: Session, tenant_id: str) -> dict[str, OncallSchedule]:
    """The tenant's schedules as they are now (not snapshotted with the policy: who is on call
    follows the tenant file, overrides included). Read without decrypting the tenant's secrets."""
    row = session.get(Tenant, tenant_id)
    if row is None:
        return {}
    try:
        return _SCHEDULES.validate_python(row.config.get("oncall_schedules") or {})
    except ValidationError:
        # Stored configs were validated when synced; a bad one must not stop every tick.
        log.exception(
            "tenant %s: stored on-call schedules are invalid; mentions stay as written", tenant_id
        )
        return {}


def _oncall(
    level: EscalationLevel, schedules: dict[str, OncallSchedule], current: datetime
) -> dict[str, Any] | None:
    """Who ``mention: oncall:<schedule>`` pages right now; None for other mentions."""
    name = oncall_schedule_name(level.mention)
    if name is None:
        return None
    schedule = schedules.get(name)
    if schedule is None:
        # Validated when the tenant was loaded; a schedule removed since the policy was
        # snapshotted leaves the mention as written.
        log.warning("escalation mentions on-call schedule %s, which no longer exists", name)
        return {"schedule": name, "user": None}
    shift = who_is_on_call(schedule, current)
    return {
        "schedule": name,
        "user": shift.user,
        "until": shift.until.isoformat() if shift.until else None,
    }


def _advance(
    session: Session,
    escalation: Escalation,
    alert: Alert,
    current: datetime,
    calls: list[tuple[str, uuid.UUID]],
    tenants: MutingConfigs,
    schedules: dict[str, OncallSchedule],
) -> tuple[list[tuple[str, uuid.UUID]], str]:
    policy = EscalationPolicy.model_validate(escalation.policy)
    decision = decide(
        policy, status=alert.status, acknowledged_at=alert.acknowledged_at, now=current
    )
    escalation.updated_at = current
    if decision.step is Step.WAIT and decision.next_at is not None:
        escalation.next_at = decision.next_at
        return [], "waiting"
    if decision.step in (Step.DONE, Step.STOP):
        escalation.state = "done" if decision.step is Step.DONE else "stopped"
        escalation.stopped_reason = alert.status
        _audit(session, escalation, f"escalation.{escalation.state}", reason=alert.status)
        return [], escalation.state
    if decision.step is Step.RESTART:
        # Acknowledged but not resolved for too long: it fires again, from the first level.
        alert.status = "firing"
        alert.updated_at = current
        escalation.started_at = current
        escalation.level = 0
        escalation.repeats_done = 0
        escalation.next_at = current + timedelta(seconds=policy.levels[0].delay)
        _audit(session, escalation, "escalation.restarted", reason="ack_timeout")
        if policy.levels[0].delay > 0:
            return [], "restarted"
    mute = mute_for(session, tenants.get(escalation.tenant_id), alert, current)
    if mute is not None:
        # Paused, not skipped: the level stays, and the rest of the climb moves along with
        # it, so once nothing mutes the alert the climb goes on with its own spacing.
        pause = current + timedelta(seconds=MUTED_RECHECK_SECONDS) - escalation.next_at
        escalation.next_at += pause
        escalation.started_at += pause
        return [], "muted"
    level_index = escalation.level
    level = policy.levels[level_index]
    created = _notify(
        session, escalation, alert, level, level_index, current, _oncall(level, schedules, current)
    )
    for target in level.integrations():
        call_id = queue_call(session, alert, target=target, action="trigger", actor=ACTOR)
        if call_id is not None:  # one trigger per alert and target, whatever the levels
            calls.append((alert.tenant_id, call_id))
    next_level, repeats, next_at = after_notify(
        policy,
        level=level_index,
        repeats_done=escalation.repeats_done,
        started_at=escalation.started_at,
        now=current,
    )
    if next_at is None:
        escalation.state = "done"
        escalation.stopped_reason = "last level notified"
    else:
        escalation.level, escalation.repeats_done, escalation.next_at = next_level, repeats, next_at
    return created, "level"


def _notify(
    session: Session,
    escalation: Escalation,
    alert: Alert,
    level: EscalationLevel,
    level_index: int,
    current: datetime,
    oncall: dict[str, Any] | None,
) -> list[tuple[str, uuid.UUID]]:
    event_id = add_event(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        action="escalated",
        actor=ACTOR,
        payload={
            "level": level_index + 1,
            "mention": level.mention,
            "unacknowledged_for": (current - alert.first_seen_at).total_seconds(),
            "escalation_id": str(escalation.id),
            # Resolved when the level fires: whoever is on call at that moment is paged.
            "oncall": oncall,
        },
        routed_at=current,
    )
    session.flush()  # the notifications below reference the event
    created: list[tuple[str, uuid.UUID]] = []
    for channel in level.channels:
        notification_id = add_notification(
            session,
            tenant_id=alert.tenant_id,
            alert_id=alert.id,
            event_id=event_id,
            kind=NotificationKind.ESCALATED.value,
            channel=channel,
        )
        if notification_id is not None:  # a channel listed twice is notified once
            created.append((alert.tenant_id, notification_id))
    _audit(
        session,
        escalation,
        "escalation.level",
        level=level_index + 1,
        channels=level.channels,
        integrations=level.integrations(),
        **({"oncall": oncall} if oncall else {}),
    )
    return created


def _audit(session: Session, escalation: Escalation, action: str, **detail: object) -> None:
    audit(
        session,
        tenant_id=escalation.tenant_id,
        alert_id=escalation.alert_id,
        actor=ACTOR,
        action=action,
        escalation_id=str(escalation.id),
        **detail,
    )


class SlackEscalationManager:
    """The escalation side of the original design, as one object: attach policies to alerts,
    and run a tick (what beat does every ``ALERTING_ESCALATION_TICK`` seconds)."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def setup(
        self,
        session: Session,
        alert_id: str | uuid.UUID,
        *,
        policy_name: str | None = None,
        levels: list[dict[str, object]] | None = None,
        actor: str = "api:setup_escalation",
    ) -> uuid.UUID | None:
        return setup_escalation(
            session, alert_id, policy_name=policy_name, levels=levels, box=self.box, actor=actor
        )

    def tick(self, session: Session) -> TickResult:
        return tick(session)


#: A second "escalate now" of the same alert within this many seconds is the same intent (a
#: double click, two people at once) and fires nothing more.
ESCALATE_NOW_DEBOUNCE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class EscalateNowResult:
    #: "escalated", "already" (someone just did), "none" (no climb running), or the climb's
    #: own step when it fired nothing ("muted", "stopped", "done").
    outcome: str
    level: int | None = None
    by: str | None = None
    notifications: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    integration_calls: list[tuple[str, uuid.UUID]] = field(default_factory=list)


def escalate_now(session: Session, alert: Alert, *, actor: str) -> EscalateNowResult:
    """Fire the alert's next escalation level now (Slack's "Escalate now", ``/alerts escalate``).

    The caller holds the alert's row lock, so two requests at once serialize, and the second
    one, within :data:`ESCALATE_NOW_DEBOUNCE_SECONDS`, finds the first one's mark and fires
    nothing (even when that level was the last one)."""
    from alerting.db.models import AuditEntry

    current = now()
    recent = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.tenant_id == alert.tenant_id,
            AuditEntry.alert_id == alert.id,
            AuditEntry.action == "escalation.escalated_now",
            AuditEntry.at > current - timedelta(seconds=ESCALATE_NOW_DEBOUNCE_SECONDS),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    if recent is not None:
        return EscalateNowResult("already", recent.detail.get("level"), recent.actor)
    escalation = session.scalars(
        select(Escalation)
        .where(Escalation.alert_id == alert.id, Escalation.state == "active")
        .with_for_update()
    ).one_or_none()
    if escalation is None:
        return EscalateNowResult("none")
    level = escalation.level + 1
    escalation.next_at = current
    calls: list[tuple[str, uuid.UUID]] = []
    created, step = _advance(
        session,
        escalation,
        alert,
        current,
        calls,
        MutingConfigs(session),
        oncall_schedules(session, alert.tenant_id),
    )
    if step != "level":
        # Muted, or the alert was acknowledged or resolved: the climb decided, nothing fired.
        return EscalateNowResult(step)
    audit(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        actor=actor,
        action="escalation.escalated_now",
        escalation_id=str(escalation.id),
        level=level,
    )
    return EscalateNowResult("escalated", level, actor, created, calls)
