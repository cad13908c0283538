"""Silences: create, list, read and expire them (CLI, HTTP API, the Slack button).

Every function takes the tenant: another tenant's silence is reported as not found.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from alerting.db.models import Alert, Silence, Tenant
from alerting.db.repositories import add_event, audit, now, tenant_exists
from alerting.domain.errors import AlertingError, InvalidInput, UnknownTenant, pydantic_problems
from alerting.domain.matchers import FIELD_NAMES, Matcher, Op
from alerting.domain.muting import SilenceSpec, silence_state
from alerting.domain.quotas import Quotas

#: What the Slack button silences for.
BUTTON_SILENCE = timedelta(hours=1)
_MATCHER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class SilenceNotFound(AlertingError, LookupError):
    def __init__(self, silence_id: str) -> None:
        super().__init__(f"silence_id: no silence {silence_id!r}")


def parse_spec(data: Any, *, where: str) -> SilenceSpec:
    try:
        return SilenceSpec.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(where, pydantic_problems(exc)) from None


def create_silence(
    session: Session,
    tenant_id: str,
    spec: SilenceSpec,
    *,
    where: str,
    alert_id: uuid.UUID | None = None,
) -> Silence:
    tenant = session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise UnknownTenant(tenant_id)
    current = now()
    try:
        starts_at, ends_at = spec.range(current)
    except ValueError as exc:
        field, _, reason = str(exc).partition(": ")
        raise InvalidInput(where, [(field, reason)]) from None
    # The tenant row is locked above, so concurrent creations cannot both pass the count.
    limit = Quotas.model_validate(tenant.config.get("quotas") or {}).silences
    if _open_silences(session, tenant_id, current) >= limit:
        raise InvalidInput(
            where,
            [
                (
                    "quotas.silences",
                    f"the tenant already has {limit} active or pending silences, its quota; "
                    "expire some first",
                )
            ],
        )
    silence = Silence(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        matchers=[str(m) for m in spec.matchers],
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=spec.created_by,
        comment=spec.comment,
        alert_id=alert_id,
        created_at=current,
    )
    session.add(silence)
    audit(
        session,
        tenant_id=tenant_id,
        alert_id=alert_id,
        actor=spec.created_by,
        action="silence.created",
        silence_id=str(silence.id),
        matchers=silence.matchers,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    session.flush()
    return silence


def get_silence(session: Session, tenant_id: str, silence_id: str | uuid.UUID) -> Silence:
    try:
        ident = silence_id if isinstance(silence_id, uuid.UUID) else uuid.UUID(silence_id)
    except ValueError:
        raise SilenceNotFound(str(silence_id)) from None
    silence = session.scalars(
        select(Silence).where(Silence.id == ident, Silence.tenant_id == tenant_id)
    ).one_or_none()
    if silence is None:
        raise SilenceNotFound(str(silence_id))
    return silence


def _open_silences(session: Session, tenant_id: str, at: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Silence)
            .where(
                Silence.tenant_id == tenant_id, Silence.expired_at.is_(None), Silence.ends_at > at
            )
        )
        or 0
    )


def list_silences(
    session: Session,
    tenant_id: str,
    *,
    include_expired: bool,
    limit: int | None = None,
    cursor: str | None = None,
) -> list[Silence]:
    """The tenant's silences by start time. With ``limit``, one page: pass the
    :func:`page_cursor` of the last one as ``cursor`` for the next."""
    if not tenant_exists(session, tenant_id):
        raise UnknownTenant(tenant_id)
    query = select(Silence).where(Silence.tenant_id == tenant_id)
    if not include_expired:
        query = query.where(Silence.expired_at.is_(None), Silence.ends_at > now())
    if cursor is not None:
        after_start, after_id = _read_cursor(cursor)
        query = query.where(tuple_(Silence.starts_at, Silence.id) > tuple_(after_start, after_id))
    query = query.order_by(Silence.starts_at, Silence.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def page_cursor(silence: Silence) -> str:
    """An opaque cursor: the listing continues after ``silence``."""
    raw = f"{silence.starts_at.isoformat()}|{silence.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, _, ident = raw.partition("|")
        starts_at = datetime.fromisoformat(start)
        if starts_at.tzinfo is None:
            raise ValueError(start)
        return starts_at, uuid.UUID(ident)
    except ValueError:
        raise InvalidInput(
            "silences", [("cursor", "is not a cursor this listing returned")]
        ) from None


def expire_silence(
    session: Session, tenant_id: str, silence_id: str | uuid.UUID, *, by: str
) -> tuple[Silence, bool]:
    """Ends it now; (the silence, whether it changed). Alerts it muted are heard of at their
    next repeat."""
    silence = get_silence(session, tenant_id, silence_id)
    session.refresh(silence, with_for_update=True)
    current = now()
    if (
        silence_state(
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            expired_at=silence.expired_at,
            at=current,
        )
        == "expired"
    ):
        return silence, False
    silence.expired_at = current
    silence.expired_by = by
    audit(
        session,
        tenant_id=tenant_id,
        alert_id=silence.alert_id,
        actor=by,
        action="silence.expired",
        silence_id=str(silence.id),
    )
    return silence, True


def silence_dict(silence: Silence, at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": str(silence.id),
        "tenant_id": silence.tenant_id,
        "matchers": list(silence.matchers),
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
        "created_by": silence.created_by,
        "comment": silence.comment,
        "created_at": silence.created_at.isoformat() if silence.created_at else None,
        "expired_at": silence.expired_at.isoformat() if silence.expired_at else None,
        "expired_by": silence.expired_by,
        "alert_id": str(silence.alert_id) if silence.alert_id else None,
        "state": silence_state(
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            expired_at=silence.expired_at,
            at=at or now(),
        ),
    }


def identity_matchers(alert: Alert) -> list[Matcher]:
    """Matchers for exactly this alert's identity: type, environment and every label.

    Labels whose names are not matcher names (or that the alert's own fields hide) cannot be
    written as matchers and are left out: the silence is then a little wider.
    """
    out = [
        Matcher("alert_type", Op.EQ, alert.alert_type),
        Matcher("environment", Op.EQ, alert.environment or ""),
    ]
    for name, value in sorted(alert.labels.items()):
        if _MATCHER_NAME_RE.fullmatch(name) and name not in FIELD_NAMES:
            out.append(Matcher(name, Op.EQ, str(value)))
    return out


def silence_alert_for_an_hour(
    session: Session, tenant_id: str, alert_id: str | uuid.UUID, *, by: str
) -> tuple[Silence, uuid.UUID] | None:
    """The Slack button: a one-hour silence of this alert's identity, and a ``silenced`` event
    (to route) that says so on its message. None when the alert is resolved."""
    from alerting.pipeline.lifecycle import find_alert

    alert = find_alert(session, alert_id, tenant_id=tenant_id, for_update=True)
    if alert.status == "resolved":
        return None
    spec = SilenceSpec(
        matchers=identity_matchers(alert),
        duration=BUTTON_SILENCE.total_seconds(),
        created_by=by,
        comment="Silence 1h from Slack",
    )
    silence = create_silence(session, tenant_id, spec, where="slack", alert_id=alert.id)
    event_id = add_event(
        session,
        tenant_id=tenant_id,
        alert_id=alert.id,
        action="silenced",
        actor=by,
        payload={"by": by, "silence_id": str(silence.id), "until": silence.ends_at.isoformat()},
    )
    return silence, event_id


def silence_alert(
    session: Session,
    tenant_id: str,
    alert_id: str | uuid.UUID,
    *,
    by: str,
    seconds: float,
    comment: str,
) -> tuple[Silence, uuid.UUID | None] | None:
    """A silence of this alert's identity from Slack (button, modal), at most one at a time:
    with a silence made on this alert still running, that one is returned and no event
    (``(silence, None)``), so a double click or two people at once silence it once. None when
    the alert is resolved."""
    from alerting.pipeline.lifecycle import find_alert

    alert = find_alert(session, alert_id, tenant_id=tenant_id, for_update=True)
    if alert.status == "resolved":
        return None
    current = now()
    running = session.scalars(
        select(Silence)
        .where(
            Silence.tenant_id == tenant_id,
            Silence.alert_id == alert.id,
            Silence.expired_at.is_(None),
            Silence.starts_at <= current,
            Silence.ends_at > current,
        )
        .order_by(Silence.created_at.desc())
        .limit(1)
    ).first()
    if running is not None:
        return running, None
    spec = SilenceSpec(
        matchers=identity_matchers(alert), duration=seconds, created_by=by, comment=comment
    )
    silence = create_silence(session, tenant_id, spec, where="slack", alert_id=alert.id)
    event_id = add_event(
        session,
        tenant_id=tenant_id,
        alert_id=alert.id,
        action="silenced",
        actor=by,
        payload={
            "by": by,
            "silence_id": str(silence.id),
            "until": silence.ends_at.isoformat(),
            "seconds": seconds,
        },
    )
    return silence, event_id
