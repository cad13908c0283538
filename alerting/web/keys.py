"""``POST /api/v1/api-keys``: an admin key mints a key for its own tenant, never with a scope
its creator does not hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from alerting.authz import Grant, check_scopes, requires
from alerting.db.repositories import create_api_key
from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.web.schemas import error_responses

router = APIRouter()


class KeyRequest(BaseModel):
    scopes: list[str] = Field(min_length=1, max_length=10)
    label: str | None = Field(default=None, max_length=200)


class KeyMinted(BaseModel):
    key: str
    scopes: list[str]


@router.post(
    "/api/v1/api-keys",
    status_code=201,
    response_model=KeyMinted,
    responses=error_responses(400, 401, 403, 413, 422, 503),
)
def mint_key(
    request: Request, body: KeyRequest, grant: Annotated[Grant, requires("admin")]
) -> KeyMinted:
    refused = check_scopes(body.scopes, grant.scopes)
    if refused:
        raise InvalidInput(
            "POST /api/v1/api-keys",
            [("scopes", f"{s!r} is unknown or more than this key holds") for s in refused],
        )
    with session_scope(request.app.state.settings.postgres_url) as session:
        key = create_api_key(
            session, grant.tenant_id, body.label, scopes=body.scopes, actor=grant.actor
        )
    return KeyMinted(key=key, scopes=sorted(set(body.scopes)))
