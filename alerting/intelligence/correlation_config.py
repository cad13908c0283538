"""The tenant file's ``correlation`` and ``topology`` blocks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.domain.durations import Duration


class CorrelationConfig(BaseModel):
    """``correlation: {enabled, window, threshold}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    #: An incident takes new members until this long after its last one (seconds).
    window: Duration = 600.0
    #: Score (0-1) an alert needs to join an open incident rather than open its own.
    threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    #: The incident's Slack message waits this long for the first siblings of a cascade.
    group_wait: Duration = 10.0
    #: Changes to the incident's message are told no more often than this.
    group_interval: Duration = 60.0
    #: A reminder while members still fire.
    repeat_interval: Duration = 4 * 3600.0

    @field_validator("window")
    @classmethod
    def _positive_window(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the window must be longer than zero")
        return value


class TopologyConfig(BaseModel):
    """``topology: {label, depends_on}``: which service depends on which."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The alert label that names a service.
    label: str = Field(default="service", min_length=1, max_length=128)
    #: Service -> the services it depends on.
    depends_on: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_self_dependency(self) -> TopologyConfig:
        for service, deps in self.depends_on.items():
            if service in deps:
                raise ValueError(f"depends_on.{service}: a service cannot depend on itself")
        return self
