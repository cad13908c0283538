"""The alert event a producer sends, its validation and its fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
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

#: Longest name of who acknowledges, resolves or silences (``by``, ``created_by``).
MAX_ACTOR_CHARS = 200

#: Furthest ahead of the receiving clock an event's ``occurred_at`` may be (producers' clock
#: skew). A time further ahead is refused: stored, it would outrank every later event.
MAX_FUTURE_SKEW = timedelta(minutes=5)
#: Earliest accepted ``occurred_at``; anything before is a clock or unit error (epoch 0).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)

# ``\Z`` rather than ``$``, which would also accept a trailing newline.
TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}\Z")
ALERT_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
ENVIRONMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\Z")

# Characters no stored text may hold: PostgreSQL refuses NUL in text and jsonb, a lone
# surrogate cannot be encoded as UTF-8, and other control characters (escape sequences
# included) only garble a terminal or a Slack message. Multi-line text keeps tab, LF and CR;
# one-line text (names, label values, actors) keeps only tab.
_NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_NOT_IN_LINE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be stored as it is, or None when it can."""
    found = (_NOT_IN_TEXT if multiline else _NOT_IN_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    where = f"at position {found.start()}"
    if char == "\x00":
        return f"contains a NUL character ({code}) {where}"
    if "\ud800" <= char <= "\udfff":
        return f"contains a lone surrogate ({code}) {where}, which is not valid Unicode"
    return f"contains the control character {code} {where}"


def check_line(value: Any) -> Any:
    """A pydantic validator for one-line text (see :func:`text_problem`)."""
    problem = isinstance(value, str) and text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_text(value: Any) -> Any:
    """A pydantic validator for multi-line text (see :func:`text_problem`)."""
    problem = isinstance(value, str) and text_problem(value, multiline=True)
    if problem:
        raise ValueError(problem)
    return value


# Checked before the string's own constraints, which cannot even read a lone surrogate.
Line = Annotated[str, BeforeValidator(check_line)]
Text = Annotated[str, BeforeValidator(check_text)]


def time_problem(value: datetime, *, ahead: timedelta, at: datetime | None = None) -> str | None:
    """Why ``value`` (aware) is not an acceptable time: before EARLIEST_TIME, or more than
    ``ahead`` after ``at`` (default: now)."""
    try:
        moment = value.astimezone(UTC)
    except OverflowError:
        return "is out of range"
    if moment < EARLIEST_TIME:
        return f"is before {EARLIEST_TIME.date().isoformat()}: a clock or unit error"
    limit = (at or datetime.now(UTC)) + ahead
    if moment > limit:
        return (
            f"is more than {_span(ahead)} in the future (at most {limit.isoformat()} is accepted)"
        )
    return None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


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


def _string_map(kind: str, max_value: int, *, multiline: bool = False) -> Any:
    def check(value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} {kind}, got {len(value)}")
        for key, item in value.items():
            if not key or len(key) > MAX_LABEL_KEY_CHARS:
                raise ValueError(
                    f"{kind} key {key[:40]!r} must be 1-{MAX_LABEL_KEY_CHARS} characters"
                )
            problem = text_problem(key)
            if problem:
                raise ValueError(f"{kind} key {key[:40]!r} {problem}")
            if len(item) > max_value:
                raise ValueError(f"{kind} {key!r} is longer than {max_value} characters")
            problem = text_problem(item, multiline=multiline)
            if problem:
                raise ValueError(f"{kind} {key[:40]!r}: the value {problem}")
        return value

    return AfterValidator(check)


TenantId = Annotated[str, AfterValidator(_check_tenant_id)]
Labels = Annotated[
    dict[str, Annotated[str, Field(strict=True)]], _string_map("labels", MAX_LABEL_VALUE_CHARS)
]
Annotations = Annotated[
    dict[str, Annotated[str, Field(strict=True)]],
    _string_map("annotations", MAX_ANNOTATION_VALUE_CHARS, multiline=True),
]


class AlertEvent(BaseModel):
    """One event as a producer sends it. Unknown fields are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    tenant_id: TenantId
    alert_type: str
    severity: Severity
    message: Text
    status: Literal["firing", "resolved"] = "firing"
    environment: str | None = None
    labels: Labels = Field(default_factory=dict)
    annotations: Annotations = Field(default_factory=dict)
    source: Line | None = Field(default=None, max_length=200)
    idempotency_key: Line | None = Field(default=None, min_length=1, max_length=200)
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
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive time from a producer is read as UTC rather than the worker's zone.
            value = value.replace(tzinfo=UTC)
        problem = time_problem(value, ahead=MAX_FUTURE_SKEW)
        if problem:
            raise ValueError(problem)
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
