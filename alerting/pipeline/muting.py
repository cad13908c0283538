"""Whether an alert is muted right now, and why: one function for routing and escalation.

Silences come from Postgres, maintenance windows and inhibition rules from the tenant's
configuration; the rules themselves are pure (``alerting/domain/muting.py``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, Notification, Silence, Tenant
from alerting.db.repositories import audit
from alerting.domain.matchers import Matcher, alert_facts, parse_cached
from alerting.domain.muting import (
    InhibitRule,
    MaintenanceWindow,
    Mute,
    MuteReason,
    active_window,
)
from alerting.domain.silence_index import IndexedSilence, SilenceIndex
from alerting.domain.tenants import TenantConfig
from alerting.domain.views import NotificationKind

log = logging.getLogger(__name__)

#: Kinds a mute holds back. Acknowledgements and resolutions of an alert that was announced
#: still go out, so that incidents close where they were opened.
MUTABLE_KINDS = frozenset({NotificationKind.FIRING, NotificationKind.REPEATED})
#: Open alerts the inhibition query reads at most for one target.
INHIBIT_CANDIDATES = 500
#: Per process: each tenant's silences, indexed, with the version they were read at.
_INDEXES: dict[str, tuple[tuple[Any, ...], SilenceIndex]] = {}
#: Silences' parsed matchers kept per process (a tenant's quota is 1,000 by default).
SILENCE_CACHE = 20_000


def mute_for(
    session: Session, tenant: TenantConfig | MutingRules, alert: Alert, at: datetime
) -> Mute | None:
    """The first silence, maintenance window or inhibiting alert that mutes ``alert`` at ``at``."""
    facts = alert_facts(
        alert_type=alert.alert_type,
        severity=alert.severity,
        environment=alert.environment,
        labels=alert.labels,
    )
    silence = silence_index(session, alert.tenant_id, at).first_match(facts, at)
    if silence is not None:
        return Mute(MuteReason.SILENCE, str(silence.id))
    window = active_window(tenant.maintenance_windows, facts, at)
    if window is not None:
        return Mute(MuteReason.MAINTENANCE, window.name)
    return _inhibitor(session, tenant, alert, facts)


def silence_index(session: Session, tenant_id: str, at: datetime) -> SilenceIndex:
    """The tenant's silences not ended at ``at``, indexed; rebuilt only when they changed.

    A silence is never edited, only created or expired (or ends), and each of those changes
    the count or the latest creation of the not-ended ones: that pair tells whether the
    process's copy is still right, for the price of one small aggregate.
    """
    current = (
        Silence.tenant_id == tenant_id,
        Silence.expired_at.is_(None),
        Silence.ends_at > at,
    )
    version = tuple(
        session.execute(
            select(func.count(), func.max(Silence.created_at), func.min(Silence.ends_at)).where(
                *current
            )
        ).one()
    )
    cached = _INDEXES.get(tenant_id)
    if cached is not None and cached[0] == version:
        return cached[1]
    rows = session.execute(
        select(Silence.id, Silence.starts_at, Silence.ends_at, Silence.matchers)
        .where(*current)
        .order_by(Silence.created_at, Silence.id)
    ).all()
    indexed = []
    for row in rows:
        try:
            matchers = _parsed(tuple(row.matchers))
        except ValueError as exc:
            # Stored before patterns were checked as RE2: it cannot match until rewritten.
            log.warning("silence %s is ignored: %s", row.id, exc)
            continue
        indexed.append(IndexedSilence(row.id, row.starts_at, row.ends_at, matchers))
    index = SilenceIndex(indexed)
    _INDEXES[tenant_id] = (version, index)
    return index


@lru_cache(maxsize=SILENCE_CACHE)
def _parsed(matchers: tuple[str, ...]) -> tuple[Matcher, ...]:
    # Silences are read for every routing: parsing (and compiling) their matchers again each
    # time made a tenant with thousands of silences route many times slower.
    return tuple(parse_cached(m) for m in matchers)


def _inhibitor(
    session: Session, tenant: TenantConfig | MutingRules, alert: Alert, facts: dict[str, str]
) -> Mute | None:
    """One query for every rule that targets the alert: open alerts of the tenant whose labels
    contain the ``equal`` labels' values (GIN index on open alerts' labels); the source
    matchers are then checked on the few rows found."""
    rules = []
    conditions: list[ColumnElement[bool]] = []
    for rule in tenant.inhibit_rules:
        if not rule.targets(facts):
            continue
        wanted = rule.source_query(facts, alert.labels)
        if wanted is None:
            continue
        contain, fields = wanted
        condition = Alert.labels.contains(contain)
        for name, value in fields:
            column = getattr(Alert, name)
            condition = and_(condition, column.is_(None) if not value else column == value)
        rules.append(rule)
        conditions.append(condition)
    if not rules:
        return None
    candidates = session.execute(
        select(Alert.id, Alert.alert_type, Alert.severity, Alert.environment, Alert.labels)
        .where(
            Alert.tenant_id == alert.tenant_id,
            Alert.status != "resolved",
            Alert.id != alert.id,
            or_(*conditions),
        )
        .order_by(Alert.first_seen_at)
        # Fails open: past this many candidates an inhibition may be missed (and posted).
        .limit(INHIBIT_CANDIDATES)
    ).all()
    for row in candidates:
        source = alert_facts(
            alert_type=row.alert_type,
            severity=row.severity,
            environment=row.environment,
            labels=row.labels,
        )
        for rule in rules:
            if rule.is_source(source) and _equal(rule.equal, source, facts):
                return Mute(MuteReason.INHIBITION, str(row.id))
    return None


def _equal(names: list[str], source: dict[str, str], target: dict[str, str]) -> bool:
    return all(source.get(name) == target.get(name) for name in names)


def announced(session: Session, alert_id: uuid.UUID) -> bool:
    """Whether a firing notification of the alert was ever written (muted ones never are)."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    Notification.alert_id == alert_id,
                    Notification.kind == NotificationKind.FIRING.value,
                )
            )
        )
    )


def mute_check(
    session: Session,
    tenant: Callable[[], TenantConfig],
    event: AlertEventRow,
    kind: NotificationKind,
    at: datetime,
) -> tuple[NotificationKind, Mute | None]:
    """What routing does with an event: (the kind to notify, the mute that holds it back).

    A repeat of an alert that was never announced (it was muted when it fired) announces it
    as firing once nothing mutes it any more: a silence that ended while the alert still
    fires is heard of at the next repeat. An acknowledgement or resolution of an alert that
    was never announced is held back while it is muted (there is no message to close).
    """
    assert event.alert_id is not None
    if kind is NotificationKind.REPEATED and not announced(session, event.alert_id):
        # Locking the alert's first event serialises this with its own routing and with other
        # repeats: the alert is announced once. Until that first event is routed, it decides.
        first_routed = session.execute(
            select(AlertEventRow.routed_at)
            .where(AlertEventRow.alert_id == event.alert_id, AlertEventRow.action == "created")
            .with_for_update()
        ).first()
        if first_routed is None or first_routed.routed_at is None:
            return kind, None
        if not announced(session, event.alert_id):
            kind = NotificationKind.FIRING
    elif kind not in MUTABLE_KINDS:
        if kind not in (NotificationKind.ACKNOWLEDGED, NotificationKind.RESOLVED):
            return kind, None
        if announced(session, event.alert_id):
            return kind, None
    alert = session.get_one(Alert, event.alert_id)
    mute = mute_for(session, tenant(), alert, at)
    if mute is not None:
        audit(
            session,
            tenant_id=event.tenant_id,
            alert_id=event.alert_id,
            actor="system:router",
            action="alert.silenced",
            event_id=str(event.id),
            kind=kind.value,
            **mute.detail(),
        )
    return kind, mute


class MutingRules(BaseModel):
    """The part of a tenant's configuration that muting reads: no secrets, nothing else to
    validate (the whole configuration was validated when it was stored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)


class MutingConfigs:
    """Tenants' muting rules as stored; each tenant is read once per instance."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._configs: dict[str, MutingRules] = {}

    def get(self, tenant_id: str) -> MutingRules:
        if tenant_id not in self._configs:
            data = self.session.get_one(Tenant, tenant_id).config
            self._configs[tenant_id] = MutingRules.model_validate(data)
        return self._configs[tenant_id]
