"""``POST /slack/interactions`` (buttons, modals, shortcuts) and ``POST /slack/commands`` (the
slash command): Slack's requests, checked by :mod:`alerting.web.slack_guard`, then handed to
the Bolt app of :mod:`alerting.web.slack_app`.

A replayed interaction gets 409 and a replayed command 401; a body Slack sends again
(``X-Slack-Retry-Num``) is answered 200 and does nothing a second time.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

from alerting.authz import public
from alerting.web.schemas import ErrorBody
from alerting.web.slack_app import create_bolt_app
from alerting.web.slack_guard import admit

router = APIRouter()

#: What Slack's requests may be answered (alerting/web/slack_guard.py), for the OpenAPI document.
SLACK_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "Acknowledged; the work runs on a worker"},
    400: {"model": ErrorBody, "description": "A malformed header, form or payload"},
    401: {"model": ErrorBody, "description": "Not signed, badly signed, stale or replayed"},
    404: {"model": ErrorBody, "description": "The Slack team is no tenant's"},
    409: {"model": ErrorBody, "description": "A replayed interaction"},
    413: {"model": ErrorBody, "description": "The body is larger than 1 MiB"},
    503: {"model": ErrorBody, "description": "SLACK_SIGNING_SECRET is not set"},
}


def _handler(request: Request) -> AsyncSlackRequestHandler:
    state = request.app.state
    handler: AsyncSlackRequestHandler | None = getattr(state, "slack_handler", None)
    if handler is None:
        handler = state.slack_handler = AsyncSlackRequestHandler(create_bolt_app(state.settings))
    return handler


@router.post(
    "/slack/interactions",
    responses=SLACK_RESPONSES,
    dependencies=[public("signed by Slack; each action checks the member (chatops)")],
)
async def slack_interactions(request: Request) -> Response:
    admitted = await admit(request, replay_status=409, interaction=True)
    if admitted.duplicate:
        return JSONResponse({})
    response = await _handler(request).handle(request)
    if response.status_code == 200 and not response.body:
        # Slack takes an empty object as "acknowledged, nothing to show".
        return JSONResponse({})
    return response


@router.post(
    "/slack/commands",
    responses=SLACK_RESPONSES,
    dependencies=[public("signed by Slack; each command checks the member (chatops)")],
)
async def slack_commands(request: Request) -> Response:
    admitted = await admit(request, replay_status=401, interaction=False)
    if admitted.duplicate:
        return Response(status_code=200)
    return await _handler(request).handle(request)
