"""``/api/v1/silences``: create, list, read and expire the caller's tenant's silences.

Another tenant's silence is answered 404, exactly like a missing one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from alerting.authz import requires
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.domain.muting import SilenceSpec
from alerting.pipeline.silences import (
    SilenceNotFound,
    create_silence,
    expire_silence,
    get_silence,
    list_silences,
    page_cursor,
    parse_spec,
    silence_dict,
)
from alerting.web.schemas import (
    SilenceExpired,
    SilenceOut,
    SilencePage,
    error_responses,
    inline_schema,
)

#: Silences per page unless ``limit`` says otherwise, and the most one page may hold.
DEFAULT_PAGE = 100
MAX_PAGE = 1000

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


@router.post(
    "/api/v1/silences",
    status_code=201,
    dependencies=[requires("silences:write")],
    response_model=SilenceOut,
    responses=error_responses(400, 401, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(SilenceSpec)}},
        }
    },
)
def post_silence(request: Request, body: Annotated[Any, Body()], who: WhoDep) -> dict[str, Any]:
    where = "POST /api/v1/silences"
    if not isinstance(body, dict):
        raise InvalidInput(where, [("(body)", "must be a JSON object")])
    tenant_id, actor = who
    body.setdefault("created_by", actor)
    spec = parse_spec(body, where=where)
    with session_scope(request.app.state.settings.postgres_url) as session:
        return silence_dict(create_silence(session, tenant_id, spec, where=where))


@router.get(
    "/api/v1/silences",
    response_model=SilencePage,
    responses=error_responses(401, 403, 422, 503),
    dependencies=[requires("alerts:read")],
)
def get_silences(
    request: Request,
    who: WhoDep,
    include_all: Annotated[bool, Query(alias="all")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Active and pending silences by start time, a page at a time; with ``?all=true``
    expired ones too. ``next_cursor``, passed as ``cursor``, gives the next page."""
    with session_scope(request.app.state.settings.postgres_url) as session:
        rows = list_silences(
            session, who[0], include_expired=include_all, limit=limit + 1, cursor=cursor
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "silences": [silence_dict(s) for s in rows],
            "next_cursor": page_cursor(rows[-1]) if more else None,
        }


@router.get(
    "/api/v1/silences/{silence_id}",
    response_model=SilenceOut,
    responses=error_responses(401, 403, 404, 503),
    dependencies=[requires("alerts:read")],
)
def get_one(request: Request, silence_id: str, who: WhoDep) -> dict[str, Any] | JSONResponse:
    try:
        with session_scope(request.app.state.settings.postgres_url) as session:
            return silence_dict(get_silence(session, who[0], silence_id))
    except SilenceNotFound as exc:
        return _not_found(exc)


@router.delete(
    "/api/v1/silences/{silence_id}",
    response_model=SilenceExpired,
    responses=error_responses(401, 403, 404, 503),
    dependencies=[requires("silences:write")],
)
def delete_silence(request: Request, silence_id: str, who: WhoDep) -> dict[str, Any] | JSONResponse:
    """Expires it now (it stays listed with ``?all=true``)."""
    try:
        with session_scope(request.app.state.settings.postgres_url) as session:
            silence, changed = expire_silence(session, who[0], silence_id, by=who[1])
            return {**silence_dict(silence), "changed": changed}
    except SilenceNotFound as exc:
        return _not_found(exc)
