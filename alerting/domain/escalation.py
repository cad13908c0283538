"""Escalation policies and the pure decision of what a due escalation does next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.domain.channels import check_channel


class EscalationLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Seconds from the start of the escalation until this level is notified.
    delay: int = Field(ge=0, le=7 * 24 * 3600)
    channels: list[str] = Field(default_factory=list)
    #: Who to mention, e.g. ``oncall:primary`` or ``<!subteam^S123>`` (shown in the message).
    mention: str | None = Field(default=None, max_length=200)
    #: Page through the tenant's ``integrations.pagerduty`` (Events API v2 trigger).
    pagerduty: bool = False
    #: Open an incident through the tenant's ``integrations.servicenow``.
    servicenow: bool = False

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            check_channel(channel)
        return value

    @model_validator(mode="after")
    def _target(self) -> EscalationLevel:
        if not (self.channels or self.pagerduty or self.servicenow):
            raise ValueError(
                "a level needs at least one channel to notify (or pagerduty / servicenow)"
            )
        return self

    def integrations(self) -> list[str]:
        """The outside targets this level reaches, in a fixed order."""
        return [name for name in ("pagerduty", "servicenow") if getattr(self, name)]


def unconfigured_integrations(
    levels: list[EscalationLevel], configured: frozenset[str], *, path: str
) -> list[tuple[str, str]]:
    """(key path, reason) for each level naming an integration the tenant has not set up."""
    return [
        (f"{path}.{index}.{name}", f"the tenant has no integrations.{name} configured")
        for index, level in enumerate(levels)
        for name in level.integrations()
        if name not in configured
    ]


class EscalationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: list[EscalationLevel] = Field(min_length=1, max_length=20)
    #: Times the last level is notified again, at the interval between the last two levels.
    repeat: int = Field(default=0, ge=0, le=100)
    #: Seconds after which an acknowledged, unresolved alert fires again (escalation restarts).
    ack_timeout: int | None = Field(default=None, gt=0)

    @field_validator("levels")
    @classmethod
    def _ordered(cls, value: list[EscalationLevel]) -> list[EscalationLevel]:
        delays = [level.delay for level in value]
        if delays != sorted(delays):
            raise ValueError("level delays count from the start and must not decrease")
        return value

    def repeat_interval(self) -> int:
        if len(self.levels) >= 2:
            return max(60, self.levels[-1].delay - self.levels[-2].delay)
        return max(60, self.levels[-1].delay)


class Step(StrEnum):
    NOTIFY = "notify"  # notify ``level`` now
    WAIT = "wait"  # acknowledged: look again at ``next_at``
    RESTART = "restart"  # acknowledged too long: fire again from the first level
    DONE = "done"  # resolved, or nothing left to notify
    STOP = "stop"  # acknowledged, and no ack_timeout: the climb ends


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    next_at: datetime | None = None


def decide(
    policy: EscalationPolicy,
    *,
    status: str,
    acknowledged_at: datetime | None,
    now: datetime,
) -> Decision:
    """What a due escalation does, from the alert's state as it is now (never as it was)."""
    if status == "resolved":
        return Decision(Step.DONE)
    if status == "acknowledged":
        if policy.ack_timeout is None or acknowledged_at is None:
            return Decision(Step.STOP)
        again = acknowledged_at + timedelta(seconds=policy.ack_timeout)
        return Decision(Step.RESTART) if again <= now else Decision(Step.WAIT, again)
    return Decision(Step.NOTIFY)


def after_notify(
    policy: EscalationPolicy, *, level: int, repeats_done: int, started_at: datetime, now: datetime
) -> tuple[int, int, datetime | None]:
    """(next level, repeats done, when) after notifying ``level``; ``None``: nothing left."""
    if level + 1 < len(policy.levels):
        return (
            level + 1,
            repeats_done,
            started_at + timedelta(seconds=policy.levels[level + 1].delay),
        )
    if repeats_done < policy.repeat:
        return level, repeats_done + 1, now + timedelta(seconds=policy.repeat_interval())
    return level, repeats_done, None
