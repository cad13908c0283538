"""Correlate: a firing alert joins an incident in the routing transaction; users correct them.

The open incidents are read from PostgreSQL under a per-tenant advisory lock, so assignment is
serial per tenant across workers and survives any restart; the scorer itself is
``alerting.intelligence.correlation`` (the code the benchmark measures).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import (
    Alert,
    AuditEntry,
    CorrelationFeedback,
    Incident,
    IncidentMember,
)
from alerting.db.repositories import audit, now, tenant_exists
from alerting.domain.errors import AlertingError, InvalidInput, UnknownTenant
from alerting.domain.events import Severity
from alerting.domain.tenants import TenantConfig
from alerting.intelligence.correlation import (
    AlertSignal,
    CorrelationState,
    Correlator,
    Feedback,
    IncidentState,
    apply,
    signature,
)

#: Members of one incident read back to score a new alert: the most recent ones.
MAX_MEMBERS_LOADED = 200


class IncidentNotFound(AlertingError, LookupError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"incident_id: no incident {incident_id!r}")


@dataclass(frozen=True, slots=True)
class Joined:
    incident_id: uuid.UUID
    #: Whether the alert opened the incident (else it joined one).
    opened: bool
    reason: str
    #: Whether the incident changed in a way worth a new webhook message: it opened, a new
    #: service fails, it got worse, or its probable root cause moved.
    material: bool = True


def correlates(tenant: TenantConfig) -> bool:
    """Whether the tenant's alerts become incidents (and Slack tells incidents)."""
    return tenant.correlation.enabled


def _signal(alert: Alert) -> AlertSignal:
    return AlertSignal(
        alert_id=str(alert.id),
        at=alert.first_seen_at.timestamp(),
        alert_type=alert.alert_type,
        severity_rank=Severity(alert.severity).rank,
        labels={str(k): str(v) for k, v in alert.labels.items()},
        message=alert.message,
    )


def _feedback(session: Session, tenant_id: str) -> Feedback:
    feedback = Feedback()
    for row in session.scalars(
        select(CorrelationFeedback).where(CorrelationFeedback.tenant_id == tenant_id)
    ):
        pair = frozenset((row.left_signature, row.right_signature))
        (feedback.apart if row.kind == "apart" else feedback.together).add(pair)
    return feedback


def correlator_for(session: Session, tenant: TenantConfig) -> Correlator:
    return Correlator(tenant.correlation, tenant.topology, _feedback(session, tenant.tenant_id))


def _lock_tenant(session: Session, tenant_id: str) -> None:
    # Serialises assignment and corrections of one tenant until the transaction ends.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"incidents:{tenant_id}"}
    )


def _load_state(
    session: Session, correlator: Correlator, incidents: Sequence[Incident]
) -> CorrelationState:
    state = CorrelationState()
    for incident in incidents:
        rows = session.execute(
            select(Alert)
            .join(IncidentMember, IncidentMember.alert_id == Alert.id)
            .where(IncidentMember.incident_id == incident.id)
            .order_by(IncidentMember.occurred_at.desc())
            .limit(MAX_MEMBERS_LOADED)
        ).scalars()
        at = incident.first_member_at.timestamp()
        incident_state = IncidentState(str(incident.id), at, incident.last_member_at.timestamp())
        for alert in reversed(list(rows)):
            incident_state.add(correlator.member(_signal(alert)))
        state.open[str(incident.id)] = incident_state
    return state


def correlate_alert(session: Session, alert: Alert, tenant: TenantConfig) -> Joined:
    """Put a new firing alert in an incident (idempotent: an alert placed stays placed)."""
    _lock_tenant(session, alert.tenant_id)
    placed = session.get(IncidentMember, alert.id)
    if placed is not None:
        return Joined(placed.incident_id, False, placed.reason, material=False)
    correlator = correlator_for(session, tenant)
    at = alert.first_seen_at
    window = timedelta(seconds=correlator.window)
    candidates = session.scalars(
        select(Incident).where(
            Incident.tenant_id == alert.tenant_id,
            Incident.merged_into.is_(None),
            Incident.last_member_at >= at - window,
            Incident.first_member_at <= at + window,
        )
    ).all()
    state = _load_state(session, correlator, candidates)
    assignment = correlator.assign(_signal(alert), state)
    new_id = uuid.uuid4()
    joined_state = state.open.get(assignment.incident_id or "")
    new_service = joined_state is None or assignment.member.service not in joined_state.services
    incident_id = uuid.UUID(apply(state, assignment, str(new_id)))
    opened = assignment.incident_id is None
    before = None if opened else session.get_one(Incident, incident_id)
    was = (before.severity, before.root_cause) if before is not None else None
    if opened:
        session.add(
            Incident(
                id=incident_id,
                tenant_id=alert.tenant_id,
                title=alert.alert_type,
                status="firing",
                severity=alert.severity,
                first_member_at=at,
                last_member_at=at,
            )
        )
        session.flush()
    reason = "opened the incident" if opened else assignment.reason
    session.add(
        IncidentMember(
            alert_id=alert.id,
            incident_id=incident_id,
            tenant_id=alert.tenant_id,
            occurred_at=at,
            score=round(assignment.score, 4),
            reason=reason,
        )
    )
    session.flush()
    after = refresh_incident(session, incident_id, correlator, state.open[str(incident_id)])
    material = opened or new_service or was != (after.severity, after.root_cause)
    audit(
        session,
        tenant_id=alert.tenant_id,
        alert_id=alert.id,
        actor="system:correlation",
        action="incident.opened" if opened else "incident.joined",
        incident_id=str(incident_id),
        score=round(assignment.score, 4),
        reason=reason,
    )
    return Joined(incident_id, opened, reason, material)


def incident_of(session: Session, alert_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(
        select(IncidentMember.incident_id).where(IncidentMember.alert_id == alert_id)
    )


_STATUS_ORDER = ("firing", "acknowledged", "resolved")


def refresh_incident(
    session: Session,
    incident_id: uuid.UUID,
    correlator: Correlator | None = None,
    state: IncidentState | None = None,
) -> Incident:
    """Recompute the incident's status and severity from its members; with a scorer and its
    state, also its title, root cause and confidence."""
    incident = session.get_one(Incident, incident_id)
    rows = session.execute(
        select(Alert.status, Alert.severity, IncidentMember.occurred_at)
        .join(IncidentMember, IncidentMember.alert_id == Alert.id)
        .where(IncidentMember.incident_id == incident_id)
    ).all()
    if rows:
        statuses = {r.status for r in rows}
        incident.status = next((s for s in _STATUS_ORDER if s in statuses), "resolved")
        incident.severity = max((Severity(r.severity) for r in rows), key=lambda s: s.rank).value
        incident.first_member_at = min(r.occurred_at for r in rows)
        incident.last_member_at = max(r.occurred_at for r in rows)
    else:
        incident.status = "resolved"
    if correlator is not None and state is not None and state.members:
        cause = correlator.root_cause(state)
        incident.title = correlator.title(state)[:300]
        incident.root_cause = (cause.service or cause.alert_type)[:300]
        incident.confidence = round(cause.confidence, 3)
    incident.updated_at = now()
    return incident


def refresh_incident_of(session: Session, alert_id: uuid.UUID) -> uuid.UUID | None:
    """After a member's acknowledgement or resolution: the incident's status follows."""
    incident_id = incident_of(session, alert_id)
    if incident_id is not None:
        refresh_incident(session, incident_id)
    return incident_id


def find_incident(session: Session, incident_id: str, *, tenant_id: str | None) -> Incident:
    try:
        key = uuid.UUID(incident_id)
    except ValueError:
        raise IncidentNotFound(incident_id) from None
    incident = session.get(Incident, key)
    if incident is None or (tenant_id is not None and incident.tenant_id != tenant_id):
        # Another tenant's incident is answered exactly as a missing one.
        raise IncidentNotFound(incident_id)
    if incident.merged_into is not None:
        return find_incident(session, str(incident.merged_into), tenant_id=tenant_id)
    return incident


def _rebuild(session: Session, incident: Incident, correlator: Correlator) -> None:
    state = _load_state(session, correlator, [incident])
    refresh_incident(session, incident.id, correlator, state.open[str(incident.id)])


def _signatures(
    session: Session, correlator: Correlator, alert_ids: Iterable[uuid.UUID]
) -> set[str]:
    alerts = session.scalars(select(Alert).where(Alert.id.in_(list(alert_ids)))).all()
    return {
        signature(m.service, m.alert_type) for m in (correlator.member(_signal(a)) for a in alerts)
    }


def _remember(session: Session, tenant_id: str, kind: str, left: set[str], right: set[str]) -> None:
    for a in left:
        for b in right:
            if a == b:
                continue
            low, high = sorted((a, b))
            session.execute(
                insert(CorrelationFeedback)
                .values(tenant_id=tenant_id, left_signature=low, right_signature=high, kind=kind)
                .on_conflict_do_update(
                    index_elements=["tenant_id", "left_signature", "right_signature"],
                    set_={"kind": kind, "created_at": func.now()},
                )
            )


def merge_incidents(
    session: Session,
    into_id: str,
    other_id: str,
    tenant: TenantConfig,
    *,
    actor: str,
    tenant_id: str | None = None,
) -> Incident:
    """Move every member of ``other_id`` into ``into_id``; remembered as "together"."""
    target = find_incident(session, into_id, tenant_id=tenant_id)
    _lock_tenant(session, target.tenant_id)
    other = find_incident(session, other_id, tenant_id=target.tenant_id)
    if other.id == target.id:
        raise InvalidInput("incidents merge", [("B", "is the same incident as A")])
    correlator = correlator_for(session, tenant)
    target_members = _member_ids(session, target.id)
    other_members = _member_ids(session, other.id)
    _remember(
        session,
        target.tenant_id,
        "together",
        _signatures(session, correlator, target_members),
        _signatures(session, correlator, other_members),
    )
    session.execute(
        update(IncidentMember)
        .where(IncidentMember.incident_id == other.id)
        .values(incident_id=target.id, placed_by=actor)
    )
    other.merged_into = target.id
    other.status = "resolved"
    other.updated_at = now()
    session.flush()
    _rebuild(session, target, correlator_for(session, tenant))
    audit(
        session,
        tenant_id=target.tenant_id,
        actor=actor,
        action="incident.merged",
        incident_id=str(target.id),
        merged=str(other.id),
        alert_ids=[str(a) for a in other_members],
    )
    return target


def split_incident(
    session: Session,
    incident_id: str,
    alert_ids: Sequence[str],
    tenant: TenantConfig,
    *,
    actor: str,
    tenant_id: str | None = None,
) -> Incident:
    """Move the given members to a new incident; remembered as "apart", and those alerts never
    rejoin the old one."""
    source = find_incident(session, incident_id, tenant_id=tenant_id)
    _lock_tenant(session, source.tenant_id)
    members = _member_ids(session, source.id)
    wanted: list[uuid.UUID] = []
    for raw in alert_ids:
        try:
            key = uuid.UUID(raw)
        except ValueError:
            raise InvalidInput(
                "incidents split", [("alerts", f"{raw!r} is not an alert id")]
            ) from None
        if key not in members:
            raise InvalidInput(
                "incidents split", [("alerts", f"alert {raw} is not a member of {source.id}")]
            )
        if key not in wanted:
            wanted.append(key)
    if not wanted:
        raise InvalidInput("incidents split", [("alerts", "name at least one member")])
    if len(wanted) == len(members):
        raise InvalidInput("incidents split", [("alerts", "would leave the incident empty")])
    correlator = correlator_for(session, tenant)
    staying = [m for m in members if m not in wanted]
    _remember(
        session,
        source.tenant_id,
        "apart",
        _signatures(session, correlator, wanted),
        _signatures(session, correlator, staying),
    )
    first = min(
        session.scalars(
            select(IncidentMember.occurred_at).where(IncidentMember.alert_id.in_(wanted))
        )
    )
    split = Incident(
        tenant_id=source.tenant_id,
        title=source.title,
        status="firing",
        severity=source.severity,
        first_member_at=first,
        last_member_at=first,
    )
    session.add(split)
    session.flush()
    session.execute(
        update(IncidentMember)
        .where(IncidentMember.alert_id.in_(wanted))
        .values(incident_id=split.id, placed_by=actor, reason=f"split from {source.id} by {actor}")
    )
    session.flush()
    correlator = correlator_for(session, tenant)
    _rebuild(session, source, correlator)
    _rebuild(session, split, correlator)
    audit(
        session,
        tenant_id=source.tenant_id,
        actor=actor,
        action="incident.split",
        incident_id=str(source.id),
        new_incident_id=str(split.id),
        alert_ids=[str(a) for a in wanted],
    )
    return split


def _member_ids(session: Session, incident_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        session.scalars(
            select(IncidentMember.alert_id)
            .where(IncidentMember.incident_id == incident_id)
            .order_by(IncidentMember.occurred_at, IncidentMember.alert_id)
        )
    )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def incident_dict(session: Session, incident: Incident) -> dict[str, Any]:
    """The incident as ``incidents list --json`` and ``GET /api/v1/incidents`` give it."""
    return {
        "id": str(incident.id),
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "root_cause": incident.root_cause,
        "alert_ids": [str(a) for a in _member_ids(session, incident.id)],
        "created_at": _iso(incident.created_at),
        "updated_at": _iso(incident.updated_at),
    }


def incident_details(session: Session, incident: Incident) -> dict[str, Any]:
    """One incident with its members and why each joined (``incidents show``, GET by id)."""
    details = incident_dict(session, incident)
    details["confidence"] = incident.confidence
    rows = session.execute(
        select(IncidentMember, Alert)
        .join(Alert, Alert.id == IncidentMember.alert_id)
        .where(IncidentMember.incident_id == incident.id)
        .order_by(IncidentMember.occurred_at, IncidentMember.alert_id)
    ).all()
    details["members"] = [
        {
            "alert_id": str(alert.id),
            "alert_type": alert.alert_type,
            "severity": alert.severity,
            "status": alert.status,
            "message": alert.message,
            "occurred_at": _iso(member.occurred_at),
            "score": member.score,
            "reason": member.reason,
            "placed_by": member.placed_by,
        }
        for member, alert in rows
    ]
    key = str(incident.id)
    corrections = session.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.tenant_id == incident.tenant_id,
            AuditEntry.action.in_(("incident.merged", "incident.split")),
            or_(
                AuditEntry.detail["incident_id"].astext == key,
                AuditEntry.detail["new_incident_id"].astext == key,
                AuditEntry.detail["merged"].astext == key,
            ),
        )
        .order_by(AuditEntry.id)
    ).all()
    details["corrections"] = [
        {"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
        for e in corrections
    ]
    return details


INCIDENT_STATUSES = ("firing", "acknowledged", "resolved")


def list_incidents(
    session: Session, tenant_id: str, *, statuses: Sequence[str] = (), limit: int = 200
) -> list[dict[str, Any]]:
    if not tenant_exists(session, tenant_id):
        raise UnknownTenant(tenant_id)
    for status in statuses:
        if status not in INCIDENT_STATUSES:
            raise InvalidInput(
                "incidents list",
                [("status", f"{status!r} is not one of {', '.join(INCIDENT_STATUSES)}")],
            )
    query = select(Incident).where(Incident.tenant_id == tenant_id, Incident.merged_into.is_(None))
    if statuses:
        query = query.where(Incident.status.in_(list(statuses)))
    incidents = session.scalars(query.order_by(Incident.created_at.desc()).limit(limit)).all()
    return [incident_dict(session, i) for i in incidents]


#: The incident's message is a group digest (alerting/pipeline/grouping.py) under this route.
INCIDENT_ROUTE = "incident"


def incident_group_labels(incident: Incident) -> dict[str, str]:
    """What the incident's message names it by: its title and probable root cause."""
    labels = {"incident": incident.title}
    if incident.root_cause:
        labels["root cause"] = f"{incident.root_cause} ({incident.confidence:.0%})"
    return labels


def _posts_with_web_api(session: Session, tenant_id: str) -> bool:
    """Whether the tenant has a bot token (stored encrypted; only its presence is read)."""
    from alerting.db.models import Tenant

    stored = session.get_one(Tenant, tenant_id).config.get("slack_config", {})
    return bool(stored.get("bot_token"))


def tell_in_incident(
    session: Session,
    alert: Alert,
    incident_id: uuid.UUID,
    channels: Sequence[str],
    mention: str | None,
    tenant: TenantConfig,
    *,
    material: bool = True,
) -> uuid.UUID:
    """The member is told in its incident's message (one per incident, updated in place in
    Web API mode with the members in its thread) instead of one of its own."""
    from alerting.db.models import AlertGroup
    from alerting.pipeline.grouping import GroupSpec, join_group

    incident = session.get_one(Incident, incident_id)
    spec = GroupSpec(
        route_path=f"{INCIDENT_ROUTE}:{incident.id}",
        group_by=("incident",),
        channels=tuple(channels),
        group_wait=tenant.correlation.group_wait,
        group_interval=tenant.correlation.group_interval,
        repeat_interval=tenant.correlation.repeat_interval,
        mention=mention,
    )
    facts = {"incident": str(incident.id)}
    due_before = session.scalar(
        select(AlertGroup.next_flush_at).where(
            AlertGroup.tenant_id == alert.tenant_id,
            AlertGroup.group_key == spec.key_of(spec.labels_of(facts)),
            AlertGroup.state == "open",
        )
    )
    group_id = join_group(session, alert, spec, facts)
    group = session.get_one(AlertGroup, group_id)
    if not material and not _posts_with_web_api(session, alert.tenant_id):
        # Webhook messages cannot be edited: a new one only when the incident changed
        # materially; the member is counted in the next one.
        group.next_flush_at = due_before
    labels = incident_group_labels(incident)
    if group.group_labels != labels:
        # The digest names the group by ``settings.group_by``'s keys, in that order.
        group.group_labels = labels
        group.settings = {**group.settings, "group_by": list(labels)}
    return group_id


def open_member_ids(session: Session, incident: Incident, *, for_status: str) -> list[uuid.UUID]:
    """Members an incident-wide acknowledgement (or resolution) changes."""
    skip = ("acknowledged", "resolved") if for_status == "acknowledged" else ("resolved",)
    return list(
        session.scalars(
            select(Alert.id)
            .join(IncidentMember, IncidentMember.alert_id == Alert.id)
            .where(IncidentMember.incident_id == incident.id, Alert.status.not_in(skip))
            .order_by(IncidentMember.occurred_at, Alert.id)
        )
    )
