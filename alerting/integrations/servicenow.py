"""ServiceNow Table API: the incident an alert opens, its updates, and the client.

``POST /api/now/table/incident`` opens it (basic auth); its ``number`` (INC…) and ``sys_id``
are kept on the alert; ``PATCH /api/now/table/incident/<sys_id>`` moves it to In Progress on
acknowledgement and to Resolved on resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from alerting.domain.events import Severity
from alerting.domain.views import AlertView
from alerting.integrations.errors import PermanentError, check_response, request_failed

INCIDENT_PATH = "/api/now/table/incident"
#: Incident states of ServiceNow's base system (the ``state`` choice list).
STATE_NEW = "1"
STATE_IN_PROGRESS = "2"
STATE_RESOLVED = "6"
#: A close code of the base system's choice list; resolution requires one.
CLOSE_CODE = "Resolved by caller"
#: ServiceNow's ``short_description`` column length.
MAX_SHORT_DESCRIPTION = 160
#: (urgency, impact) per severity; 1 is highest. Priority follows from both in ServiceNow.
URGENCY_IMPACT: dict[Severity, tuple[str, str]] = {
    Severity.CRITICAL: ("1", "1"),
    Severity.ERROR: ("2", "2"),
    Severity.WARNING: ("2", "3"),
    Severity.INFO: ("3", "3"),
}
CORRELATION_DISPLAY = "slack-alerting"


@dataclass(frozen=True, slots=True)
class Incident:
    number: str
    sys_id: str


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_incident(
    alert: AlertView,
    *,
    correlation_id: str,
    assignment_group: str | None = None,
    caller_id: str | None = None,
) -> dict[str, Any]:
    urgency, impact = URGENCY_IMPACT[alert.severity]
    message = " ".join(alert.message.split())
    title = f"[{alert.severity.value.upper()}] {alert.alert_type}: {message}"
    labels = "\n".join(f"{name}: {value}" for name, value in sorted(alert.labels.items()))
    description = "\n".join(
        part
        for part in (
            alert.message,
            "",
            f"Tenant: {alert.tenant_name} ({alert.tenant_id})",
            f"Environment: {alert.environment or '-'}",
            f"Source: {alert.source or '-'}",
            f"Alert: {alert.alert_id}",
            f"Labels:\n{labels}" if labels else "",
        )
    ).rstrip()
    body: dict[str, Any] = {
        "short_description": _truncate(title, MAX_SHORT_DESCRIPTION),
        "description": description,
        "urgency": urgency,
        "impact": impact,
        "state": STATE_NEW,
        "correlation_id": correlation_id,
        "correlation_display": CORRELATION_DISPLAY,
    }
    if assignment_group:
        body["assignment_group"] = assignment_group
    if caller_id:
        body["caller_id"] = caller_id
    return body


def acknowledged_update(by: str) -> dict[str, Any]:
    return {"state": STATE_IN_PROGRESS, "work_notes": f"Alert acknowledged by {by}."}


def resolved_update(by: str) -> dict[str, Any]:
    return {
        "state": STATE_RESOLVED,
        "close_code": CLOSE_CODE,
        "close_notes": f"Alert resolved by {by}.",
        "work_notes": f"Alert resolved by {by}.",
    }


class ServiceNowClient:
    """Table API calls for incidents with basic auth; errors mapped to ``integrations.errors``."""

    def __init__(
        self, instance_url: str, username: str, password: str, *, timeout: float = 10.0
    ) -> None:
        self.base_url = instance_url.rstrip("/") + INCIDENT_PATH
        self._auth = httpx.BasicAuth(username, password)
        self.timeout = timeout

    def _call(self, method: str, url: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            response = httpx.request(
                method,
                url,
                json=body,
                auth=self._auth,
                timeout=self.timeout,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise request_failed(exc, what) from None
        check_response(response, what)
        try:
            result = response.json()["result"]
        except (ValueError, KeyError, TypeError):
            raise PermanentError(
                f"{what}: answer without result", status=response.status_code
            ) from None
        if not isinstance(result, dict):
            raise PermanentError(f"{what}: answer without result", status=response.status_code)
        return result

    def create_incident(self, body: dict[str, Any]) -> Incident:
        result = self._call("POST", self.base_url, body, "servicenow create")
        number, sys_id = result.get("number"), result.get("sys_id")
        if not (isinstance(number, str) and isinstance(sys_id, str)):
            raise PermanentError("servicenow create: answer without number and sys_id")
        return Incident(number, sys_id)

    def update_incident(self, sys_id: str, body: dict[str, Any]) -> None:
        self._call("PATCH", f"{self.base_url}/{sys_id}", body, "servicenow update")
