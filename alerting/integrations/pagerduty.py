"""PagerDuty Events API v2: the events an alert sends, and the client that sends them.

One PagerDuty alert per alert of ours: ``dedup_key`` is derived from the tenant and the
alert's fingerprint, so a trigger sent twice (a retry after a lost answer) is folded by
PagerDuty, and acknowledge/resolve find the incident without storing anything first.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import httpx

from alerting.domain.events import Severity
from alerting.domain.views import AlertView
from alerting.integrations.errors import PermanentError, check_response, request_failed

DEFAULT_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: PagerDuty's limit on ``payload.summary``, in characters.
MAX_SUMMARY_CHARS = 1024
#: PagerDuty's limit on ``payload.source`` and ``dedup_key``, in characters.
MAX_SOURCE_CHARS = 255
#: Our severities in PagerDuty's enum (which has the same four).
SEVERITIES: dict[Severity, str] = {
    Severity.CRITICAL: "critical",
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "info",
}
CLIENT_NAME = "slack-alerting"

EventAction = Literal["trigger", "acknowledge", "resolve"]


def dedup_key(tenant_id: str, fingerprint: str) -> str:
    """Stable per tenant and fingerprint; hashed so that tenants never share a key."""
    digest = hashlib.sha256(f"{tenant_id}\x00{fingerprint}".encode()).hexdigest()
    return f"alerting-{digest[:48]}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_event(alert: AlertView, *, routing_key: str, fingerprint: str) -> dict[str, Any]:
    severity = SEVERITIES[alert.severity]
    summary = f"[{alert.severity.value.upper()}] {alert.alert_type}: {alert.message}"
    details: dict[str, Any] = {
        "tenant": alert.tenant_id,
        "alert_id": alert.alert_id,
        "environment": alert.environment,
        "count": alert.count,
        "first_seen": alert.first_seen_at.isoformat(),
        "labels": dict(alert.labels),
    }
    if alert.annotations:
        details["annotations"] = dict(alert.annotations)
    payload: dict[str, Any] = {
        "summary": _truncate(" ".join(summary.split()), MAX_SUMMARY_CHARS),
        "source": _truncate(alert.source or alert.environment or alert.tenant_id, MAX_SOURCE_CHARS),
        "severity": severity,
        "timestamp": alert.first_seen_at.isoformat(),
        "class": alert.alert_type,
        "custom_details": details,
    }
    if alert.environment:
        payload["group"] = alert.environment
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert.tenant_id, fingerprint),
        "payload": payload,
        "client": CLIENT_NAME,
    }


def follow_up_event(
    action: EventAction, *, routing_key: str, tenant_id: str, fingerprint: str
) -> dict[str, Any]:
    """``acknowledge`` or ``resolve``: only the key and the dedup key, as PagerDuty wants."""
    return {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(tenant_id, fingerprint),
    }


class PagerDutyClient:
    """Posts events to the Events API v2; errors are mapped to ``integrations.errors``."""

    def __init__(self, events_url: str = DEFAULT_EVENTS_URL, *, timeout: float = 10.0) -> None:
        self.events_url = events_url
        self.timeout = timeout

    def send(self, event: dict[str, Any]) -> str:
        """Send one event; returns the dedup key PagerDuty acknowledged."""
        what = f"pagerduty {event.get('event_action')}"
        try:
            response = httpx.post(self.events_url, json=event, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise request_failed(exc, what) from None
        check_response(response, what)
        try:
            answered = response.json().get("dedup_key")
        except ValueError:
            answered = None
        if not isinstance(answered, str):
            raise PermanentError(f"{what}: answer without dedup_key", status=response.status_code)
        return answered
