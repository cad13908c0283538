"""Muting rules, pure: silences, maintenance windows and inhibition rules.

A muted alert is stored and audited, but its firing and repeated notifications are not posted
and its escalation waits. Three things mute an alert, checked in this order:

- a **silence**: matchers and a time range, created by a person (CLI, HTTP, the Slack button);
- a **maintenance window** of the tenant file: environments and/or matchers, and either a
  one-off range or a weekly recurrence in an IANA time zone;
- an **inhibition rule** of the tenant file: an open alert matching ``source_matchers`` mutes
  alerts matching ``target_matchers`` whose ``equal`` labels have the same values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.domain.durations import Duration
from alerting.domain.events import (
    ENVIRONMENT_RE,
    MAX_ACTOR_CHARS,
    Line,
    Text,
    text_problem,
    time_problem,
)
from alerting.domain.matchers import Matcher, MatcherField, Op, matches_all

#: Longest silence or window occurrence; a longer one is almost certainly a typo.
MAX_MUTE_SECONDS = 366 * 86400
#: Furthest ahead a silence may start or end.
MAX_PLANNED_AHEAD = timedelta(days=3653)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MuteReason(StrEnum):
    SILENCE = "silence"
    MAINTENANCE = "maintenance"
    INHIBITION = "inhibition"


@dataclass(frozen=True, slots=True)
class Mute:
    """Why an alert is muted: the silence's id, the window's name or the inhibiting alert."""

    reason: MuteReason
    #: Silence id, maintenance window name, or the id of the inhibiting alert.
    source: str

    def detail(self) -> dict[str, str]:
        key = {
            MuteReason.SILENCE: "silence_id",
            MuteReason.MAINTENANCE: "maintenance_window",
            MuteReason.INHIBITION: "inhibited_by",
        }[self.reason]
        return {"reason": self.reason.value, key: self.source}


# --- silences --------------------------------------------------------------------------


def silence_state(
    *, starts_at: datetime, ends_at: datetime, expired_at: datetime | None, at: datetime
) -> Literal["pending", "active", "expired"]:
    if expired_at is not None or ends_at <= at:
        return "expired"
    return "pending" if starts_at > at else "active"


class SilenceSpec(BaseModel):
    """A silence as written at an edge (HTTP body, CLI options), before it is stored."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[MatcherField] = Field(min_length=1, max_length=20)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    #: Instead of ``ends_at``: how long from ``starts_at`` (``"2h"``, ``"30m"``, seconds).
    duration: Duration | None = None
    created_by: Line = Field(min_length=1, max_length=MAX_ACTOR_CHARS, pattern=r"\S")
    comment: Text = Field(default="", max_length=1000)

    @field_validator("matchers", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        if isinstance(value, list):
            for index, item in enumerate(value):
                problem = isinstance(item, str) and text_problem(item)
                if problem:
                    raise ValueError(f"matcher {index + 1} {problem}")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2030-01-01T10:00:00Z")
        # The bound keeps the end computable (9999-12-31 plus a duration is past what a
        # datetime holds) and catches typos in the year.
        problem = time_problem(value, ahead=MAX_PLANNED_AHEAD)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= MAX_MUTE_SECONDS:
            raise ValueError("must be more than 0 and at most 366 days")
        return value

    @model_validator(mode="after")
    def _one_end(self) -> SilenceSpec:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give either ends_at or duration (exactly one)")
        return self

    def range(self, at: datetime) -> tuple[datetime, datetime]:
        """(start, end); ValueError names the field when the end is not after the start."""
        start = self.starts_at or at
        end = self.ends_at or start + timedelta(seconds=self.duration or 0)
        if end <= start:
            raise ValueError("ends_at: must be after starts_at")
        if end <= at:
            raise ValueError("ends_at: is in the past; the silence would never be active")
        if end - start > timedelta(seconds=MAX_MUTE_SECONDS):
            raise ValueError("ends_at: a silence lasts at most 366 days")
        return start, end


# --- maintenance windows ---------------------------------------------------------------


class Recurrence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Days the window opens on, in the window's time zone: ``mon`` … ``sun``.
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    #: Local wall-clock time the window opens (``"22:00"``).
    start: time
    duration: Duration

    @field_validator("duration")
    @classmethod
    def _length(cls, value: float) -> float:
        if not 0 < value <= 7 * 86400:
            raise ValueError("must be more than 0 and at most 7 days")
        return value


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    #: Alerts of these environments (any of them); empty: any environment.
    environments: list[str] = Field(default_factory=list)
    #: Alerts matching all of these; combined with ``environments``.
    matchers: list[MatcherField] = Field(default_factory=list)
    timezone: str = "UTC"
    #: A one-off window: local times in ``timezone`` unless they carry an offset.
    start: datetime | None = None
    end: datetime | None = None
    recurrence: Recurrence | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)") from None
        return value

    @field_validator("environments")
    @classmethod
    def _environments(cls, value: list[str]) -> list[str]:
        for name in value:
            if not ENVIRONMENT_RE.match(name):
                raise ValueError(f"{name!r} is not an environment name")
        return value

    @model_validator(mode="after")
    def _when(self) -> MaintenanceWindow:
        one_off = self.start is not None or self.end is not None
        if one_off and self.recurrence is not None:
            raise ValueError("give either start/end or recurrence, not both")
        if not one_off and self.recurrence is None:
            raise ValueError("give either start and end, or a recurrence")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self._aware(self.end) <= self._aware(self.start):
                raise ValueError("end: must be after start")
        if not self.environments and not self.matchers:
            raise ValueError("give environments and/or matchers: a window must select alerts")
        return self

    def _aware(self, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(self.timezone))

    def selects(self, facts: Mapping[str, str]) -> bool:
        if self.environments and facts.get("environment", "") not in self.environments:
            return False
        return matches_all(self.matchers, facts)

    def active(self, at: datetime) -> bool:
        if self.recurrence is None:
            assert self.start is not None and self.end is not None
            return self._aware(self.start) <= at < self._aware(self.end)
        return any(start <= at < end for start, end in self.occurrences_around(at))

    def occurrences_around(self, at: datetime) -> list[tuple[datetime, datetime]]:
        """The recurrence's occurrences that could contain ``at`` (UTC start, end).

        Each starts at the local wall-clock time on its day, whatever the offset that day
        (so a 22:00 window opens at 22:00 on both sides of a DST change); its length is
        elapsed time. A start in the hour skipped by a DST change is read with the offset
        before the change, as zoneinfo does (``fold=0``).
        """
        rec = self.recurrence
        assert rec is not None
        zone = ZoneInfo(self.timezone)
        local_day = at.astimezone(zone).date()
        span = timedelta(seconds=rec.duration)
        out = []
        for back in range(int(rec.duration // 86400) + 2):
            day: date = local_day - timedelta(days=back)
            if WEEKDAYS[day.weekday()] not in rec.days:
                continue
            start = datetime.combine(day, rec.start, tzinfo=zone).astimezone(UTC)
            out.append((start, start + span))
        return out


def active_window(
    windows: Sequence[MaintenanceWindow], facts: Mapping[str, str], at: datetime
) -> MaintenanceWindow | None:
    for window in windows:
        if window.selects(facts) and window.active(at):
            return window
    return None


# --- inhibition ------------------------------------------------------------------------

#: ``equal`` names that are the alert's own columns rather than labels.
EQUAL_FIELDS = frozenset({"alert_type", "severity", "environment"})
_GLOB_CHARS = frozenset("*?[")
_LABEL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: list[MatcherField] = Field(min_length=1)
    target_matchers: list[MatcherField] = Field(min_length=1)
    #: Labels (or ``environment``, ``alert_type``, ``severity``) that must be equal on both.
    equal: list[str] = Field(default_factory=list)

    @field_validator("equal")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _LABEL_NAME_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a label name")
        return ["alert_type" if name == "alertname" else name for name in value]

    def targets(self, facts: Mapping[str, str]) -> bool:
        return matches_all(self.target_matchers, facts)

    def source_query(
        self, facts: Mapping[str, str], labels: Mapping[str, object]
    ) -> tuple[dict[str, str], list[tuple[str, str]]] | None:
        """What a source alert must carry for this target: (labels its labels contain, own
        fields it has equal). None when the target lacks one of the ``equal`` labels (then
        nothing is equal to it: only present labels are compared).

        Plain equality source matchers are added, so that the indexed query returns few rows
        besides the sources themselves (the other matchers are checked on the rows found).
        """
        contain: dict[str, str] = {}
        fields: list[tuple[str, str]] = []
        for name in self.equal:
            if name in EQUAL_FIELDS:
                fields.append((name, facts.get(name, "")))
            elif name in labels:
                contain[name] = str(labels[name])
            else:
                return None
        for m in self.source_matchers:
            if m.op is not Op.EQ:
                continue
            if m.name in EQUAL_FIELDS:
                if m.name != "alert_type" or not _GLOB_CHARS.intersection(m.value):
                    fields.append((m.name, m.value))
            elif m.name not in contain:
                contain[m.name] = m.value
        return contain, fields

    def is_source(self, facts: Mapping[str, str]) -> bool:
        return matches_all(self.source_matchers, facts)


def unique_names(windows: Sequence[MaintenanceWindow]) -> None:
    seen: set[str] = set()
    for window in windows:
        if window.name in seen:
            raise ValueError(f"two windows are named {window.name!r}")
        seen.add(window.name)


__all__ = [
    "InhibitRule",
    "MaintenanceWindow",
    "Matcher",
    "Mute",
    "MuteReason",
    "Recurrence",
    "SilenceSpec",
    "active_window",
    "silence_state",
]
