"""Local stand-ins of PagerDuty's Events API v2 and ServiceNow's incident Table API.

Served by the Slack sandbox (``alerting sandbox``) so development and tests reach them over
real HTTP. They validate like the real services (what this project sends must pass there),
answer with their status codes and bodies, take injected faults (the next answers 429, 500 or
400), and list what they received at ``/sandbox/integrations``; the sandbox's reset empties
them. State lives on ``app.state.integrations``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections import deque
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

#: Credentials the ServiceNow stand-in accepts (basic auth), unless reconfigured.
SERVICENOW_USER = "alerting"
SERVICENOW_PASSWORD = "standin-password"
PAGERDUTY_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
PAGERDUTY_ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})
#: ServiceNow's base incident states: New, In Progress, On Hold, Resolved, Closed, Canceled.
SERVICENOW_STATES = frozenset({"1", "2", "3", "6", "7", "8"})
Target = Literal["pagerduty", "servicenow"]


class StandinState:
    def __init__(self) -> None:
        self.credentials = (SERVICENOW_USER, SERVICENOW_PASSWORD)
        self.reset()

    def reset(self) -> None:
        self.pagerduty_events: list[dict[str, Any]] = []
        self.servicenow_requests: list[dict[str, Any]] = []
        self.incidents: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, deque[tuple[int, int]]] = {
            "pagerduty": deque(),
            "servicenow": deque(),
        }
        self._next_number = 10001

    def next_number(self) -> str:
        number = f"INC{self._next_number:07d}"
        self._next_number += 1
        return number

    def pop_fault(self, target: str) -> Response | None:
        if not self.faults[target]:
            return None
        status, retry_after = self.faults[target].popleft()
        headers = {"Retry-After": str(retry_after)} if status == 429 else None
        body: dict[str, Any]
        if target == "pagerduty":
            body = {"status": "fault", "message": f"injected {status}", "errors": ["injected"]}
        else:
            body = {"error": {"message": f"injected {status}", "detail": ""}, "status": "failure"}
        return JSONResponse(body, status_code=status, headers=headers)


def standins(request: Request) -> StandinState:
    state = request.app.state.integrations
    if not isinstance(state, StandinState):
        raise TypeError("app.state.integrations is not a StandinState; use install()")
    return state


# --- PagerDuty Events API v2 ---

pagerduty_router = APIRouter()


def _pagerduty_errors(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a 32 character string")
    action = event.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        errors.append("'event_action' is invalid (trigger, acknowledge or resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 0 < len(dedup) <= 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' must be 1 to 1024 characters")
        source = payload.get("source")
        if not isinstance(source, str) or not source or len(source) > 255:
            errors.append("'payload.source' must be 1 to 255 characters")
        if payload.get("severity") not in PAGERDUTY_SEVERITIES:
            errors.append("'payload.severity' must be one of critical, error, warning, info")
        details = payload.get("custom_details")
        if details is not None and not isinstance(details, dict | str):
            errors.append("'payload.custom_details' must be an object")
    return errors


@pagerduty_router.post("/pagerduty/v2/enqueue")
async def pagerduty_enqueue(request: Request) -> Response:
    state = standins(request)
    fault = state.pop_fault("pagerduty")
    try:
        event = await request.json()
    except ValueError:
        event = None
    record = {"received_at": time.time(), "event": event}
    if fault is not None:
        state.pagerduty_events.append({**record, "status": fault.status_code})
        return fault
    errors = _pagerduty_errors(event)
    if errors:
        state.pagerduty_events.append({**record, "status": 400, "errors": errors})
        return JSONResponse(
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            status_code=400,
        )
    dedup = event.get("dedup_key") or secrets.token_hex(16)
    state.pagerduty_events.append({**record, "status": 202})
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup}, status_code=202
    )


# --- ServiceNow Table API (incident) ---

servicenow_router = APIRouter()


def _authorised(state: StandinState, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected_user, expected_password = state.credentials
    return secrets.compare_digest(user, expected_user) and secrets.compare_digest(
        password, expected_password
    )


def _sn_error(status: int, message: str, detail: str = "") -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "detail": detail}, "status": "failure"}, status_code=status
    )


async def _sn_begin(
    request: Request, method: str, sys_id: str | None
) -> tuple[StandinState, dict[str, Any] | None, Response | None]:
    state = standins(request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    record: dict[str, Any] = {"received_at": time.time(), "method": method, "sys_id": sys_id}
    record["body"] = body
    state.servicenow_requests.append(record)
    if not _authorised(state, request):
        record["status"] = 401
        return state, None, _sn_error(401, "User Not Authenticated", "Required to provide Auth")
    fault = state.pop_fault("servicenow")
    if fault is not None:
        record["status"] = fault.status_code
        return state, None, fault
    if not isinstance(body, dict):
        record["status"] = 400
        return state, None, _sn_error(400, "Exception while reading request", "not JSON")
    problem = _sn_problem(body)
    if problem:
        record["status"] = 400
        return state, None, _sn_error(400, "Invalid request", problem)
    record["status"] = 200
    return state, body, None


def _sn_problem(body: dict[str, Any]) -> str | None:
    state = body.get("state")
    if state is not None and str(state) not in SERVICENOW_STATES:
        return f"state {state!r} is not an incident state"
    if str(state) == "6" and not (body.get("close_code") and body.get("close_notes")):
        return "close_code and close_notes are mandatory to resolve an incident"
    return None


def _apply(incident: dict[str, Any], body: dict[str, Any]) -> None:
    for key, value in body.items():
        if key == "work_notes":
            incident.setdefault("work_notes_list", []).append(value)
        else:
            incident[key] = str(value) if key == "state" else value
    incident["sys_updated_on"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


@servicenow_router.post("/servicenow/api/now/table/incident")
async def servicenow_create(request: Request) -> Response:
    state, body, error = await _sn_begin(request, "POST", None)
    if error is not None or body is None:
        return error or _sn_error(400, "Invalid request")
    if not isinstance(body.get("short_description"), str) or not body["short_description"]:
        state.servicenow_requests[-1]["status"] = 400
        return _sn_error(400, "Invalid request", "short_description is mandatory")
    sys_id = secrets.token_hex(16)
    incident: dict[str, Any] = {"sys_id": sys_id, "number": state.next_number(), "state": "1"}
    _apply(incident, body)
    state.incidents[sys_id] = incident
    state.servicenow_requests[-1]["status"] = 201
    return JSONResponse({"result": incident}, status_code=201)


@servicenow_router.patch("/servicenow/api/now/table/incident/{sys_id}")
async def servicenow_update(sys_id: str, request: Request) -> Response:
    state, body, error = await _sn_begin(request, "PATCH", sys_id)
    if error is not None or body is None:
        return error or _sn_error(400, "Invalid request")
    incident = state.incidents.get(sys_id)
    if incident is None:
        state.servicenow_requests[-1]["status"] = 404
        return _sn_error(404, "No Record found", "Record doesn't exist or ACL restricts access")
    _apply(incident, body)
    return JSONResponse({"result": incident})


@servicenow_router.get("/servicenow/api/now/table/incident/{sys_id}")
async def servicenow_get(sys_id: str, request: Request) -> Response:
    state = standins(request)
    if not _authorised(state, request):
        return _sn_error(401, "User Not Authenticated", "Required to provide Auth")
    incident = state.incidents.get(sys_id)
    if incident is None:
        return _sn_error(404, "No Record found", "Record doesn't exist or ACL restricts access")
    return JSONResponse({"result": incident})


# --- control ---

control_router = APIRouter()


class _FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target
    #: Status codes of the next answers, in order (429, 500, 400, ...).
    responses: list[Annotated[int, Field(ge=400, le=599)]] = Field(min_length=1)
    #: Seconds sent in ``Retry-After`` with injected 429s.
    retry_after: int = Field(default=1, ge=0)


@control_router.get("/sandbox/integrations")
async def received(request: Request) -> JSONResponse:
    state = standins(request)
    return JSONResponse(
        {
            "pagerduty": state.pagerduty_events,
            "servicenow": {
                "requests": state.servicenow_requests,
                "incidents": list(state.incidents.values()),
            },
        }
    )


@control_router.post("/sandbox/integrations/faults")
async def faults(body: _FaultsBody, request: Request) -> JSONResponse:
    standins(request).faults[body.target].extend((s, body.retry_after) for s in body.responses)
    return JSONResponse({"ok": True})


def install(app: FastAPI) -> None:
    """Serve the stand-ins from ``app`` (the Slack sandbox)."""
    app.state.integrations = StandinState()
    app.include_router(pagerduty_router)
    app.include_router(servicenow_router)
    app.include_router(control_router)


def reset(app: FastAPI) -> None:
    state = getattr(app.state, "integrations", None)
    if isinstance(state, StandinState):
        state.reset()
