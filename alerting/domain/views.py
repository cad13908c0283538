"""Plain data handed from the pipeline to the formatter: what a message must say."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from alerting.domain.events import Severity


class NotificationKind(StrEnum):
    FIRING = "firing"  # a new alert
    REPEATED = "repeated"  # fired again while open (Web API mode: its message is updated)
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # nobody acknowledged it in time: a level of its policy
    DIGEST = "digest"  # a group's alerts told together
    SILENCED = "silenced"  # someone silenced it from its message (Silence 1h)


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as a Slack message shows it. Built from the database, free of ORM objects."""

    alert_id: str
    tenant_id: str
    tenant_name: str
    alert_type: str
    severity: Severity
    message: str
    status: str
    environment: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    #: The ServiceNow incident opened for it (``INC0010001``), once ServiceNow answered.
    incident_number: str | None = None
    #: Slack mention (``<@U…>``) of whoever is on call in the tenant's ``primary`` schedule.
    oncall: str | None = None


@dataclass(frozen=True, slots=True)
class MessageOptions:
    """Per-tenant choices that change how a message is written."""

    #: Let ``<!channel>``, ``<!here>`` and ``<@U…>`` in alert text notify people.
    allow_mentions: bool = False
    #: Extra line shown above the message (for example a re-routing explanation).
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Acknowledge / Resolve / Silence buttons (Web API mode, where Slack can call back).
    interactive: bool = False
    #: Languages of the message: the first is its language, a second one is added below it
    #: (a bilingual channel).
    locales: tuple[str, ...] = ("en",)
    #: Who a firing message notifies (``<!subteam^S…>``), written by the operator in the
    #: tenant's routes: posted as a real mention even where ``allow_mentions`` is off.
    mention: str | None = None
    #: Mentions the operator configured for this message (an escalation level's ``mention``,
    #: the on-call person): kept as mentions in notes, where everything else is escaped.
    mentions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DigestMember:
    alert_type: str
    severity: Severity
    status: str
    message: str
    #: Labels that tell it apart within its group (the group's own labels left out).
    labels: dict[str, str]
    count: int
    #: Shown on its line, so every member of a digest can be looked up.
    alert_id: str = ""


@dataclass(frozen=True, slots=True)
class DigestView:
    """A group's digest: how many alerts it holds, which ones, what changed since the last."""

    tenant_id: str
    group_id: str
    #: The ``group_by`` labels and their values (the group's name in the message).
    group_labels: dict[str, str]
    route: str
    #: The digest's number within the group (1 is the first message).
    digest: int
    firing: int
    acknowledged: int
    resolved: int
    occurrences: int
    #: The first members, still firing and worst first; ``more`` are not listed.
    members: tuple[DigestMember, ...]
    more: int
    #: Members this digest tells for the first time (listed in the thread reply).
    new_members: tuple[DigestMember, ...] = ()
    new_count: int = 0
    resolved_since: int = 0
    updated_at: datetime | None = None
    #: Members still open, by severity (most severe first).
    by_severity: tuple[tuple[Severity, int], ...] = ()
    #: Members acknowledged since the last update, and some of them and of those resolved
    #: since, named in the thread line.
    acknowledged_since: int = 0
    changed_members: tuple[DigestMember, ...] = ()

    @property
    def total(self) -> int:
        return self.firing + self.acknowledged + self.resolved

    @property
    def worst(self) -> Severity | None:
        open_ = [m.severity for m in self.members if m.status != "resolved"]
        order = list(Severity)
        return min(open_, key=order.index) if open_ else None

    #: Mentions the operator configured for this message (an escalation level's ``mention``,
    #: the on-call person): kept as mentions in notes, where everything else is escaped.
    mentions: frozenset[str] = frozenset()
