"""The alert event a producer sends, its validation and its fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from alerting.domain.errors import InvalidInput


class Severity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is more severe; used to order and to compare thresholds."""
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}

#: Accepted spellings besides the four canonical severities (case-insensitive).
SEVERITY_ALIASES: dict[str, Severity] = {
    "high": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "err": Severity.ERROR,
    "major": Severity.ERROR,
    "p2": Severity.ERROR,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "minor": Severity.WARNING,
    "p3": Severity.WARNING,
    "low": Severity.INFO,
    "notice": Severity.INFO,
    "informational": Severity.INFO,
    "p4": Severity.INFO,
}

#: Largest number of labels (and of annotations) on one event.
MAX_LABELS = 64
#: Longest label or annotation key, in characters.
MAX_LABEL_KEY_CHARS = 128
#: Longest label value, in characters.
MAX_LABEL_VALUE_CHARS = 1024
#: Longest annotation value (runbook text, URLs), in characters.
MAX_ANNOTATION_VALUE_CHARS = 4096
#: Largest accepted message unless ALERTING_MAX_MESSAGE_CHARS says otherwise, in characters.
DEFAULT_MAX_MESSAGE_CHARS = 8000

TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
ALERT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ENVIRONMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def parse_severity(value: object) -> Severity:
    if isinstance(value, Severity):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string")
    key = value.strip().lower()
    try:
        return Severity(key)
    except ValueError:
        pass
    if key in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[key]
    canonical = ", ".join(s.value for s in Severity)
    aliases = ", ".join(sorted(SEVERITY_ALIASES))
    raise ValueError(f"{value!r} is not a severity; use one of {canonical} (aliases: {aliases})")


def _check_tenant_id(value: str) -> str:
    if not TENANT_ID_RE.match(value):
        raise ValueError(
            "must be 1-63 characters of lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def _string_map(kind: str, max_value: int) -> Any:
    def check(value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} {kind}, got {len(value)}")
        for key, item in value.items():
            if not key or len(key) > MAX_LABEL_KEY_CHARS:
                raise ValueError(
                    f"{kind} key {key[:40]!r} must be 1-{MAX_LABEL_KEY_CHARS} characters"
                )
            if len(item) > max_value:
                raise ValueError(f"{kind} {key!r} is longer than {max_value} characters")
        return value

    return AfterValidator(check)


TenantId = Annotated[str, AfterValidator(_check_tenant_id)]
Labels = Annotated[
    dict[str, Annotated[str, Field(strict=True)]], _string_map("labels", MAX_LABEL_VALUE_CHARS)
]
Annotations = Annotated[
    dict[str, Annotated[str, Field(strict=True)]],
    _string_map("annotations", MAX_ANNOTATION_VALUE_CHARS),
]


class AlertEvent(BaseModel):
    """One event as a producer sends it. Unknown fields are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    tenant_id: TenantId
    alert_type: str
    severity: Severity
    message: str
    status: Literal["firing", "resolved"] = "firing"
    environment: str | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    source: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    occurred_at: datetime | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        return parse_severity(value)

    @field_validator("alert_type")
    @classmethod
    def _alert_type(cls, value: str) -> str:
        if not ALERT_TYPE_RE.match(value):
            raise ValueError(
                "must be 1-128 characters of letters, digits, '_', '.', ':' or '-' "
                "(for example high_cpu)"
            )
        return value

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str | None) -> str | None:
        if value is not None and not ENVIRONMENT_RE.match(value):
            raise ValueError(
                "must be 1-64 characters of lowercase letters, digits, '-' or '_' "
                "(for example production)"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            # A naive time from a producer is read as UTC rather than the worker's zone.
            value = value.replace(tzinfo=UTC)
        return value

    def fingerprint(self) -> str:
        return fingerprint(self.tenant_id, self.alert_type, self.environment, self.labels)

    def to_message(self) -> dict[str, Any]:
        """Primitive form for the broker (JSON-safe)."""
        return self.model_dump(mode="json", exclude_none=True)


def fingerprint(
    tenant_id: str, alert_type: str, environment: str | None, labels: dict[str, str]
) -> str:
    """Identity of an alert: the same fingerprint while firing is the same alert."""
    canonical = json.dumps(
        [tenant_id, alert_type, environment or "", sorted(labels.items())],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def validate_event(
    data: dict[str, Any],
    *,
    where: str = "send_alert",
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
) -> AlertEvent:
    """Validate producer input; raise :class:`InvalidInput` naming every bad field."""
    try:
        event = AlertEvent.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput.from_pydantic(where, exc) from None
    if len(event.message) > max_message_chars:
        raise InvalidInput(
            where,
            [("message", f"is {len(event.message)} characters; the limit is {max_message_chars}")],
        )
    return event
