"""``/api/v1/incidents``: the caller's tenant's incidents; merge, split, acknowledge, resolve.

Another tenant's incident is answered 404, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from alerting.authz import requires
from alerting.db.repositories import load_tenant
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.pipeline.correlate import (
    IncidentNotFound,
    find_incident,
    incident_details,
    incident_dict,
    list_incidents,
    merge_incidents,
    open_member_ids,
    split_incident,
)
from alerting.secrets import SecretBox
from alerting.web.schemas import error_responses

router = APIRouter()

#: What the routes of one incident may answer besides 200.
ONE_INCIDENT = error_responses(400, 401, 403, 404, 413, 422, 503)


def _who(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> tuple[str, str]:
    """(tenant id, actor) of the request's API key."""
    from alerting.web.app import caller

    found = caller(request, authorization)
    return found.tenant_id, found.actor


WhoDep = Annotated[tuple[str, str], Depends(_who)]


def _not_found(exc: IncidentNotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": str(exc)})


def _url(request: Request) -> str:
    return str(request.app.state.settings.postgres_url)


@router.get(
    "/api/v1/incidents",
    dependencies=[requires("alerts:read")],
    responses=error_responses(401, 403, 422, 503),
)
def get_incidents(
    request: Request, who: WhoDep, status: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    """The tenant's incidents, newest first; ``?status=firing`` (repeatable) filters."""
    with session_scope(_url(request)) as session:
        return {"incidents": list_incidents(session, who[0], statuses=status or ())}


@router.get(
    "/api/v1/incidents/{incident_id}",
    dependencies=[requires("alerts:read")],
    responses=ONE_INCIDENT,
    response_model=None,
)
def get_incident(request: Request, incident_id: str, who: WhoDep) -> dict[str, Any] | JSONResponse:
    try:
        with session_scope(_url(request)) as session:
            return incident_details(session, find_incident(session, incident_id, tenant_id=who[0]))
    except IncidentNotFound as exc:
        return _not_found(exc)


def _body_field(body: Any, where: str, name: str) -> Any:
    if not isinstance(body, dict):
        raise InvalidInput(where, [("(body)", "must be a JSON object")])
    if name not in body:
        raise InvalidInput(where, [(name, "is required")])
    return body[name]


def _actor(body: Any, who: tuple[str, str]) -> str:
    by = body.get("by") if isinstance(body, dict) else None
    return by if isinstance(by, str) and by.strip() else who[1]


@router.post(
    "/api/v1/incidents/{incident_id}/merge",
    dependencies=[requires("alerts:respond")],
    responses=ONE_INCIDENT,
    response_model=None,
)
def post_merge(
    request: Request, incident_id: str, who: WhoDep, body: Annotated[Any, Body()] = None
) -> dict[str, Any] | JSONResponse:
    """Body ``{"incident_id": B}``: B's alerts move into this incident."""
    where = f"POST /api/v1/incidents/{incident_id}/merge"
    other = _body_field(body, where, "incident_id")
    if not isinstance(other, str):
        raise InvalidInput(where, [("incident_id", "must be a string")])
    box = SecretBox.from_settings(request.app.state.settings)
    try:
        with session_scope(_url(request)) as session:
            tenant = load_tenant(session, who[0], box).config
            merged = merge_incidents(
                session, incident_id, other, tenant, actor=_actor(body, who), tenant_id=who[0]
            )
            return incident_dict(session, merged)
    except IncidentNotFound as exc:
        return _not_found(exc)


@router.post(
    "/api/v1/incidents/{incident_id}/split",
    dependencies=[requires("alerts:respond")],
    responses=ONE_INCIDENT,
    status_code=201,
    response_model=None,
)
def post_split(
    request: Request, incident_id: str, who: WhoDep, body: Annotated[Any, Body()] = None
) -> dict[str, Any] | JSONResponse:
    """Body ``{"alert_ids": [...]}``: those alerts become a new incident (answered)."""
    where = f"POST /api/v1/incidents/{incident_id}/split"
    alert_ids = _body_field(body, where, "alert_ids")
    if not isinstance(alert_ids, list) or not all(isinstance(a, str) for a in alert_ids):
        raise InvalidInput(where, [("alert_ids", "must be a list of alert ids")])
    box = SecretBox.from_settings(request.app.state.settings)
    try:
        with session_scope(_url(request)) as session:
            tenant = load_tenant(session, who[0], box).config
            split = split_incident(
                session, incident_id, alert_ids, tenant, actor=_actor(body, who), tenant_id=who[0]
            )
            return incident_dict(session, split)
    except IncidentNotFound as exc:
        return _not_found(exc)


def _change(
    request: Request, incident_id: str, who: tuple[str, str], body: Any, status: str
) -> dict[str, Any] | JSONResponse:
    from alerting.manager import SyncSlackAlertManager

    try:
        with session_scope(_url(request)) as session:
            incident = find_incident(session, incident_id, tenant_id=who[0])
            ids = open_member_ids(session, incident, for_status=status)
            found_id = str(incident.id)
    except IncidentNotFound as exc:
        return _not_found(exc)
    manager = SyncSlackAlertManager(request.app.state.settings, ingest_wait=0)
    change = manager.acknowledge if status == "acknowledged" else manager.resolve
    for alert_id in ids:
        change(str(alert_id), by=_actor(body, who), tenant_id=who[0])
    return {"id": found_id, "status": status, "changed": [str(a) for a in ids]}


@router.post(
    "/api/v1/incidents/{incident_id}/ack",
    dependencies=[requires("alerts:respond")],
    responses=ONE_INCIDENT,
    response_model=None,
)
def post_ack(
    request: Request, incident_id: str, who: WhoDep, body: Annotated[Any, Body()] = None
) -> dict[str, Any] | JSONResponse:
    """Acknowledges every open member."""
    return _change(request, incident_id, who, body, "acknowledged")


@router.post(
    "/api/v1/incidents/{incident_id}/resolve",
    dependencies=[requires("alerts:respond")],
    responses=ONE_INCIDENT,
    response_model=None,
)
def post_resolve(
    request: Request, incident_id: str, who: WhoDep, body: Annotated[Any, Body()] = None
) -> dict[str, Any] | JSONResponse:
    """Resolves every member."""
    return _change(request, incident_id, who, body, "resolved")
