"""Bodies of the HTTP API as the OpenAPI document shows them: requests, answers and errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from alerting.domain.events import MAX_ACTOR_CHARS, AlertEvent, Line, TenantId


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its definitions written in place, for a schema given by
    hand (``openapi_extra``), where ``#/$defs/...`` would not resolve."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


class Problem(BaseModel):
    #: Dotted path of the refused field (``labels.team``, ``alerts.3.startsAt``).
    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, and for refused input each field and why."""

    error: str
    problems: list[Problem] = Field(default_factory=list)


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}
_ERRORS: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("The body could not be read (not UTF-8 JSON)", {}),
    401: ("No API key, or an unknown or revoked one", {}),
    403: ("The API key belongs to another tenant than the one named", {}),
    404: ("No such resource for this tenant (another tenant's is answered the same)", {}),
    409: ("The change is not possible in the alert's state", {}),
    413: ("The body is larger than ALERTING_MAX_BODY_BYTES or the tenant's quota", {}),
    422: ("Refused input: each problem names the field and the reason", {}),
    429: ("The tenant's event rate quota is used up; retry after Retry-After", _RETRY_AFTER),
    503: ("A dependency (broker, database) did not answer in time", _RETRY_AFTER),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes, all with :class:`ErrorBody`."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description, headers = _ERRORS[code]
        out[code] = {"model": ErrorBody, "description": description}
        if headers:
            out[code]["headers"] = headers
    return out


class AlertEventBody(AlertEvent):
    """``POST /api/v1/alerts``: one event; ``tenant_id`` defaults to the API key's tenant."""

    tenant_id: TenantId | None = None  # type: ignore[assignment]


class ActionBody(BaseModel):
    by: Line | None = Field(default=None, min_length=1, max_length=MAX_ACTOR_CHARS, pattern=r"\S")


class QueuedAlert(BaseModel):
    #: The event's id: ``GET /api/v1/alerts/{id}`` finds its alert once stored.
    id: str
    status: Literal["queued"] = "queued"


class AlertmanagerQueued(BaseModel):
    status: Literal["queued"] = "queued"
    firing: int
    resolved: int
    #: Alerts Alertmanager left out of the post (its receiver's ``max_alerts``).
    truncated: int
    #: Alerts given severity ``warning`` because their ``severity`` label was missing or unknown.
    severity_defaulted: int
    #: The events' ids, in the order of the post's alerts.
    events: list[str]


class AlertState(BaseModel):
    id: str
    status: str
    #: False when the alert already was in that state.
    changed: bool


class AlertOut(BaseModel):
    id: str
    tenant_id: str
    fingerprint: str
    alert_type: str
    severity: str
    environment: str | None
    status: str
    message: str
    labels: dict[str, str]
    annotations: dict[str, str]
    source: str | None
    count: int
    first_seen_at: str | None
    last_seen_at: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    resolved_by: str | None
    resolved_at: str | None


class NotificationOut(BaseModel):
    id: str
    kind: str
    channel: str
    original_channel: str | None
    mention: str | None
    state: str
    attempts: int
    last_error: str | None
    slack_ts: str | None
    sent_at: str | None
    created_at: str | None


class AuditOut(BaseModel):
    at: str | None
    actor: str
    action: str
    #: What the entry records; its keys depend on ``action``.
    detail: dict[str, object]


class SlackMessageOut(BaseModel):
    """One Slack message that told the alert: its own, a digest, an update, a thread line."""

    channel: str
    #: None for incoming webhooks, which answer no timestamp.
    ts: str | None
    kind: str
    sent_at: str


class AlertDetails(BaseModel):
    alert: AlertOut
    notifications: list[NotificationOut]
    audit: list[AuditOut]
    slack_messages: list[SlackMessageOut]


class SilenceOut(BaseModel):
    id: str
    tenant_id: str
    matchers: list[str]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    created_at: str | None
    expired_at: str | None
    expired_by: str | None
    alert_id: str | None
    state: Literal["pending", "active", "expired"]


class SilenceExpired(SilenceOut):
    changed: bool


class SilencePage(BaseModel):
    silences: list[SilenceOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None
