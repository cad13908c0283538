"""On-call schedules: a rotation of Slack users handing over at a wall-clock time, overrides,
and who is on call at a given instant.

Handoffs are wall-clock times in the schedule's IANA time zone, so a daily rotation hands
over at 09:00 local time on both sides of a DST change (that shift lasts 23 or 25 hours).
A handoff time that does not exist on a given day (inside a DST gap) happens at the instant
the clock jumps over it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Slack user ids: ``U…`` (or ``W…`` in Enterprise Grid), upper-case letters and digits.
SLACK_USER_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")
#: ``mention: oncall:<schedule>`` in an escalation level.
ONCALL_PREFIX = "oncall:"
#: The schedule the built-in templates name in "page the on-call" lines.
PRIMARY_SCHEDULE = "primary"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: Longest override, in days: anything longer is a rotation change, not an override.
MAX_OVERRIDE_DAYS = 366
#: Consecutive stretches of the same person merged into one shift before giving up (a
#: one-person rotation has no end in sight).
_MERGE_LIMIT = 120
_HANDOFF_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: ``date`` under another name: the override's field of that name shadows it in its class.
Day = date


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """Every IANA name (a walk of the zone files: ~4 ms, and tenants are validated often)."""
    return frozenset(available_timezones())


def _check_user(value: str) -> str:
    if not SLACK_USER_RE.match(value):
        raise ValueError(f"{value!r} is not a Slack user id (U… or W…, e.g. U024BE7LH)")
    return value


class Override(BaseModel):
    """Someone else on call: for one local calendar day (``date``), or from ``start`` to
    ``end`` (local date-times or dates, end excluded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str
    date: Day | None = None
    start: datetime | Day | None = None
    end: datetime | Day | None = None

    _user = field_validator("user")(classmethod(lambda cls, v: _check_user(v)))

    @model_validator(mode="after")
    def _shape(self) -> Override:
        if self.date is not None:
            if self.start is not None or self.end is not None:
                raise ValueError("give either date, or start and end, not both")
            return self
        if self.start is None or self.end is None:
            raise ValueError("an override needs a date, or both start and end")
        for moment in (self.start, self.end):
            if isinstance(moment, datetime) and moment.tzinfo is not None:
                raise ValueError(
                    "start and end are wall-clock times in the schedule's timezone: "
                    "leave out the UTC offset"
                )
        return self

    def local_bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as naive local date-times (dates are local midnight)."""
        if self.date is not None:
            day = datetime.combine(self.date, time())
            return day, day + timedelta(days=1)
        assert self.start is not None and self.end is not None  # checked by _shape
        return _as_local(self.start), _as_local(self.end)


def _as_local(moment: datetime | date) -> datetime:
    return moment if isinstance(moment, datetime) else datetime.combine(moment, time())


class OncallSchedule(BaseModel):
    """One rotation: ``users`` take turns, each for a day or a week, starting on ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[str] = Field(min_length=1, max_length=100)
    handoff: Literal["daily", "weekly"] = "weekly"
    #: Local wall-clock time of the handoff, ``HH:MM`` (24 h).
    handoff_time: str = "09:00"
    #: Weekly rotations: the day of the handoff; ``start`` must fall on it.
    handoff_day: str | None = None
    timezone: str = "UTC"
    #: The first user's first shift begins on this date at ``handoff_time``.
    start: date
    overrides: list[Override] = Field(default_factory=list, max_length=1000)

    @field_validator("users")
    @classmethod
    def _users(cls, value: list[str]) -> list[str]:
        for user in value:
            _check_user(user)
        return value

    @field_validator("handoff_time")
    @classmethod
    def _handoff_time(cls, value: str) -> str:
        if not _HANDOFF_TIME_RE.match(value):
            raise ValueError(f'{value!r} is not a time of day: use HH:MM, 24 h (e.g. "09:00")')
        return value

    @field_validator("handoff_day")
    @classmethod
    def _handoff_day(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in WEEKDAYS:
            raise ValueError(f"{value!r} is not a day of the week: use {', '.join(WEEKDAYS)}")
        return None if value is None else value.lower()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        # ZoneInfo also opens paths such as "../etc"; only real zone names are accepted.
        if value not in _zone_names():
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris, UTC)")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OncallSchedule:
        if self.handoff == "daily" and self.handoff_day is not None:
            raise ValueError("handoff_day: only weekly rotations have a handoff day")
        if self.handoff == "weekly":
            day = self.handoff_day or WEEKDAYS[self.start.weekday()]
            if WEEKDAYS[self.start.weekday()] != day:
                raise ValueError(
                    f"start: {self.start.isoformat()} is a {WEEKDAYS[self.start.weekday()]}, "
                    f"not the handoff day ({day})"
                )
        anchor = datetime.combine(self.start, time())
        spans: list[tuple[datetime, datetime, int]] = []
        for index, override in enumerate(self.overrides):
            begin, end = override.local_bounds()
            if end <= begin:
                raise ValueError(f"overrides.{index}: ends before it starts")
            if end - begin > timedelta(days=MAX_OVERRIDE_DAYS):
                raise ValueError(f"overrides.{index}: longer than {MAX_OVERRIDE_DAYS} days")
            if end <= anchor:
                raise ValueError(
                    f"overrides.{index}: ends before the rotation starts "
                    f"({self.start.isoformat()}), so it would never apply"
                )
            spans.append((begin, end, index))
        spans.sort()
        for (_, first_end, first), (second_begin, _, second) in itertools.pairwise(spans):
            if second_begin < first_end:
                raise ValueError(f"overrides.{second}: overlaps overrides.{first}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def period(self) -> timedelta:
        return timedelta(days=1 if self.handoff == "daily" else 7)


@dataclass(frozen=True, slots=True)
class Shift:
    """Who is on call, since when and until when (aware datetimes in the schedule's zone)."""

    user: str | None
    since: datetime | None
    until: datetime | None
    #: Whoever takes over at ``until``.
    next_user: str | None
    #: True while an override, not the rotation, decides.
    override: bool = False


def oncall_schedule_name(mention: str | None) -> str | None:
    """``primary`` for ``oncall:primary``; None for any other mention."""
    if mention and mention.startswith(ONCALL_PREFIX):
        return mention.removeprefix(ONCALL_PREFIX).strip()
    return None


def slack_mention(user: str) -> str:
    return f"<@{user}>"


def oncall_mention(schedules: Mapping[str, OncallSchedule], name: str, at: datetime) -> str | None:
    """``<@U…>`` of whoever is on call in schedule ``name`` at ``at``; None without one."""
    schedule = schedules.get(name)
    if schedule is None:
        return None
    user = who_is_on_call(schedule, at).user
    return slack_mention(user) if user else None


def who_is_on_call(schedule: OncallSchedule, at: datetime) -> Shift:
    """The shift around ``at`` (aware), with consecutive stretches of one person merged."""
    if at.tzinfo is None:
        raise ValueError("'at' must carry a time zone")
    zone = schedule.zone
    user, since, until, override = _segment(schedule, at)
    for _ in range(_MERGE_LIMIT):
        if since is None:
            break
        before = _segment(schedule, since - timedelta(microseconds=1))
        if before[0] != user:
            break
        since = before[1]
    next_user: str | None = None
    for _ in range(_MERGE_LIMIT):
        if until is None:
            break
        after = _segment(schedule, until)
        if after[0] != user:
            next_user = after[0]
            break
        until = after[2]
    else:
        until = None  # the same person as far as we look
    return Shift(
        user=user,
        since=since.astimezone(zone) if since else None,
        until=until.astimezone(zone) if until else None,
        next_user=next_user,
        override=override,
    )


def _local(schedule: OncallSchedule, naive: datetime) -> datetime:
    """A wall-clock time of the schedule as an aware instant (DST gaps move forward)."""
    aware = naive.replace(tzinfo=schedule.zone)
    # Round-tripping through UTC maps a time inside a DST gap to the instant after the jump.
    return aware.astimezone(UTC)


def _handoff(schedule: OncallSchedule, index: int) -> datetime:
    hour, minute = (int(part) for part in schedule.handoff_time.split(":"))
    day = datetime.combine(schedule.start, time(hour, minute)) + index * schedule.period
    return _local(schedule, day)


def _rotation(
    schedule: OncallSchedule, at: datetime
) -> tuple[str | None, datetime | None, datetime]:
    """(user, shift start, shift end) of the rotation alone; before ``start`` nobody."""
    first = _handoff(schedule, 0)
    if at < first:
        return None, None, first
    local_day = at.astimezone(schedule.zone).date()
    index = (local_day - schedule.start).days // schedule.period.days
    # The local date says which period; the handoff time of that day may still be ahead.
    while index > 0 and _handoff(schedule, index) > at:
        index -= 1
    while _handoff(schedule, index + 1) <= at:
        index += 1
    user = schedule.users[index % len(schedule.users)]
    return user, _handoff(schedule, index), _handoff(schedule, index + 1)


def _segment(
    schedule: OncallSchedule, at: datetime
) -> tuple[str | None, datetime | None, datetime | None, bool]:
    """(user, since, until, is an override) of the stretch around ``at``, unmerged."""
    bounds = [
        (_local(schedule, begin), _local(schedule, end), override.user)
        for override in schedule.overrides
        for begin, end in [override.local_bounds()]
    ]
    for begin, end, user in bounds:
        if begin <= at < end:
            return user, begin, end, True
    rotation_user, since, until = _rotation(schedule, at)
    for begin, end, _ in bounds:
        if end <= at and (since is None or end > since):
            since = end
        if at < begin < until:
            until = begin
    return rotation_user, since, until, False
