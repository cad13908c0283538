"""``/api/v1/silences``: create, list, read and expire the caller's tenant's silences.

Another tenant's silence is answered 404, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.pipeline.silences import (
    SilenceNotFound,
    create_silence,
    expire_silence,
    get_silence,
    list_silences,
    parse_spec,
    silence_dict,
)

router = APIRouter()


def _who(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> tuple[str, str]:
    """(tenant id, actor) of the request's API key."""
    from alerting.web.app import caller

    found = caller(request, authorization)
    return found.tenant_id, found.actor


WhoDep = Annotated[tuple[str, str], Depends(_who)]


def _not_found(exc: SilenceNotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"error": str(exc)})


@router.post("/api/v1/silences", status_code=201, response_model=None)
def post_silence(request: Request, body: Annotated[Any, Body()], who: WhoDep) -> dict[str, Any]:
    where = "POST /api/v1/silences"
    if not isinstance(body, dict):
        raise InvalidInput(where, [("(body)", "must be a JSON object")])
    tenant_id, actor = who
    body.setdefault("created_by", actor)
    spec = parse_spec(body, where=where)
    with session_scope(request.app.state.settings.postgres_url) as session:
        return silence_dict(create_silence(session, tenant_id, spec, where=where))


@router.get("/api/v1/silences")
def get_silences(
    request: Request, who: WhoDep, include_all: Annotated[bool, Query(alias="all")] = False
) -> dict[str, Any]:
    """Active and pending silences; with ``?all=true`` expired ones too."""
    with session_scope(request.app.state.settings.postgres_url) as session:
        rows = list_silences(session, who[0], include_expired=include_all)
        return {"silences": [silence_dict(s) for s in rows]}


@router.get("/api/v1/silences/{silence_id}", response_model=None)
def get_one(request: Request, silence_id: str, who: WhoDep) -> dict[str, Any] | JSONResponse:
    try:
        with session_scope(request.app.state.settings.postgres_url) as session:
            return silence_dict(get_silence(session, who[0], silence_id))
    except SilenceNotFound as exc:
        return _not_found(exc)


@router.delete("/api/v1/silences/{silence_id}", response_model=None)
def delete_silence(request: Request, silence_id: str, who: WhoDep) -> dict[str, Any] | JSONResponse:
    """Expires it now (it stays listed with ``?all=true``)."""
    try:
        with session_scope(request.app.state.settings.postgres_url) as session:
            silence, changed = expire_silence(session, who[0], silence_id, by=who[1])
            return {**silence_dict(silence), "changed": changed}
    except SilenceNotFound as exc:
        return _not_found(exc)
