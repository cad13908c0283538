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
    #: Mentions the operator configured for this message (an escalation level's ``mention``,
    #: the on-call person): kept as mentions in notes, where everything else is escaped.
    mentions: frozenset[str] = frozenset()
