"""Prometheus Alertmanager as a source: its webhook payload (version 4) as alert events.

Alertmanager posts a group of alerts at a time, re-posts the same group every
``repeat_interval`` while it fires and retries on 5xx. Each alert becomes one event through the
same validation as ``send_alert``; its idempotency key is Alertmanager's fingerprint, start time
and status, so re-posts are duplicates and never count twice.

The whole batch is checked before anything is published: a bad alert refuses the batch, naming
``alerts.<i>.<field>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from alerting.domain.errors import InvalidInput, pydantic_problems
from alerting.domain.events import (
    DEFAULT_MAX_MESSAGE_CHARS,
    ENVIRONMENT_RE,
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_LABELS,
    AlertEvent,
    Severity,
    parse_severity,
    validate_event,
)

#: The only webhook payload version Alertmanager has sent since 0.x; a new one may mean new
#: semantics, so it is refused rather than guessed at.
PAYLOAD_VERSION = "4"
#: Most alerts in one post. Alertmanager's ``max_alerts`` on the receiver keeps a group below it.
MAX_BATCH_ALERTS = 10_000
#: Severity given to an alert whose ``severity`` label is missing or not a known severity.
DEFAULT_SEVERITY = Severity.WARNING
#: Label added to such an alert so the message shows its severity was not given: ``missing``
#: (no ``severity`` label) or ``unknown`` (the label is kept as it was, unrecognised).
SEVERITY_DEFAULTED_LABEL = "severity_defaulted"
#: Labels that pick the event's environment, first found wins.
ENVIRONMENT_LABELS = ("environment", "env")
#: Annotations that become the message, first non-blank wins; else the alert's name.
MESSAGE_ANNOTATIONS = ("summary", "description")
#: Source when an alert has no generatorURL.
DEFAULT_SOURCE = "alertmanager"
#: Longest ``source`` of an event (see ``AlertEvent.source``).
MAX_SOURCE_CHARS = 200

_ZERO_TIME_YEAR = 1  # Go's zero time.Time, "0001-01-01T00:00:00Z": "not set".

StringMap = dict[str, Annotated[str, Field(strict=True)]]


class AlertmanagerAlert(BaseModel):
    # Alertmanager may add fields within version 4 (truncatedAlerts was one): ignored.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: StringMap
    annotations: StringMap = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,64}$")]
    generator_url: str = Field(default="", alias="generatorURL")


class AlertmanagerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: str
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: StringMap = Field(default_factory=dict, alias="groupLabels")
    common_labels: StringMap = Field(default_factory=dict, alias="commonLabels")
    common_annotations: StringMap = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert] = Field(max_length=MAX_BATCH_ALERTS)


@dataclass(frozen=True, slots=True)
class AlertmanagerBatch:
    """A checked post: its events in order, ready to publish, and what it held."""

    events: list[AlertEvent]
    firing: int
    resolved: int
    #: Alerts Alertmanager left out of the post (the receiver's ``max_alerts``).
    truncated: int
    #: Alerts given DEFAULT_SEVERITY because their ``severity`` label was missing or unknown.
    severity_defaulted: int


def parse_webhook(
    body: bytes | str,
    *,
    tenant_id: str,
    where: str = "alertmanager webhook",
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
) -> AlertmanagerBatch:
    """The events of one Alertmanager post, or :class:`InvalidInput` naming every bad field."""
    try:
        payload = _payload(body)
    except ValidationError as exc:
        raise InvalidInput(where, pydantic_problems(exc)) from None
    if payload.version != PAYLOAD_VERSION:
        raise InvalidInput(
            where,
            [("version", f"{payload.version!r} is not supported; expected {PAYLOAD_VERSION!r}")],
        )
    events: list[AlertEvent] = []
    problems: list[tuple[str, str]] = []
    for index, alert in enumerate(payload.alerts):
        event, alert_problems = alert_event(
            alert, tenant_id=tenant_id, max_message_chars=max_message_chars
        )
        problems.extend((f"alerts.{index}.{field}", reason) for field, reason in alert_problems)
        if event is not None:
            events.append(event)
    if problems:
        raise InvalidInput(where, problems)
    firing = sum(1 for event in events if event.status == "firing")
    return AlertmanagerBatch(
        events=events,
        firing=firing,
        resolved=len(events) - firing,
        truncated=payload.truncated_alerts,
        severity_defaulted=sum(1 for a in payload.alerts if severity_defaulted(a.labels)),
    )


def _payload(body: bytes | str) -> AlertmanagerPayload:
    try:
        return AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        if not any(error["type"] == "json_invalid" for error in exc.errors()):
            raise
        refused = exc
    # The fast parser also refuses escapes such as a lone surrogate (``\ud800``), without
    # saying where; Python's reads them, and the checks of each event then name the field.
    try:
        data = json.loads(body)
    except ValueError:
        raise refused from None
    return AlertmanagerPayload.model_validate(data)


def alert_event(
    alert: AlertmanagerAlert, *, tenant_id: str, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
) -> tuple[AlertEvent | None, list[tuple[str, str]]]:
    """One alert as an event, or the problems (paths relative to the alert) that refuse it."""
    problems = _time_problems(alert)
    alertname = alert.labels.get("alertname", "")
    if not alertname.strip():
        problems.append(("labels.alertname", "is required: it is the alert's type"))
    if problems:
        return None, problems

    labels = dict(alert.labels)
    defaulted = severity_defaulted(labels)
    if defaulted:
        labels[SEVERITY_DEFAULTED_LABEL] = defaulted
    annotations = dict(alert.annotations)
    if (
        alert.generator_url
        and len(alert.generator_url) <= MAX_ANNOTATION_VALUE_CHARS
        and len(annotations) < MAX_LABELS
    ):
        # Shown as a link to the expression that fired; the alert's own value wins. An extra,
        # so it is left out rather than refuse an alert it would not fit on.
        annotations.setdefault("generator_url", alert.generator_url)
    message_field, message = next(
        (
            (f"annotations.{name}", annotations[name])
            for name in MESSAGE_ANNOTATIONS
            if annotations.get(name, "").strip()
        ),
        ("labels.alertname", alertname),
    )
    data: dict[str, Any] = {
        "tenant_id": tenant_id,
        "alert_type": alertname,
        "severity": DEFAULT_SEVERITY if defaulted else labels["severity"],
        "message": message,
        "status": alert.status,
        "environment": _environment(labels),
        "labels": labels,
        "annotations": annotations,
        "source": _source(alert.generator_url),
        "idempotency_key": idempotency_key(alert),
        "occurred_at": alert.ends_at if alert.status == "resolved" else alert.starts_at,
    }
    try:
        return validate_event(data, max_message_chars=max_message_chars), []
    except InvalidInput as exc:
        fields = {
            "alert_type": "labels.alertname",
            "message": message_field,
            "occurred_at": "endsAt" if alert.status == "resolved" else "startsAt",
        }
        return None, [(fields.get(field, field), reason) for field, reason in exc.problems]


def idempotency_key(alert: AlertmanagerAlert) -> str:
    """Same alert, same start, same status: the same event, however often it is posted."""
    started = _utc(alert.starts_at).isoformat()
    return f"alertmanager:{alert.fingerprint}:{started}:{alert.status}"


def _time_problems(alert: AlertmanagerAlert) -> list[tuple[str, str]]:
    if alert.starts_at.year == _ZERO_TIME_YEAR:
        return [("startsAt", "must be set")]
    if alert.status != "resolved":
        return []
    if alert.ends_at is None or alert.ends_at.year == _ZERO_TIME_YEAR:
        return [("endsAt", "must be set on a resolved alert")]
    if _utc(alert.ends_at) < _utc(alert.starts_at):
        return [("endsAt", "is before startsAt")]
    return []


def severity_defaulted(labels: dict[str, str]) -> str | None:
    """Why the alert gets DEFAULT_SEVERITY (``missing``, ``unknown``), or None if it does not."""
    given = labels.get("severity")
    if given is None:
        return "missing"
    try:
        parse_severity(given)
    except ValueError:
        return "unknown"
    return None


def _environment(labels: dict[str, str]) -> str | None:
    for name in ENVIRONMENT_LABELS:
        value = labels.get(name, "").strip().lower()
        if value:
            # Not a valid environment name: it stays a label and picks no channel.
            return value if ENVIRONMENT_RE.match(value) else None
    return None


def _source(generator_url: str) -> str:
    if not generator_url:
        return DEFAULT_SOURCE
    if len(generator_url) <= MAX_SOURCE_CHARS:
        return generator_url
    # Prometheus puts the whole expression in the query string; the full URL stays in the
    # generator_url annotation.
    parts = urlsplit(generator_url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:MAX_SOURCE_CHARS]


def _utc(value: datetime) -> datetime:
    # Alertmanager always sends RFC 3339 with a zone; a naive time is read as UTC, as events do.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
