"""The sandbox as the person using Slack: clicks, slash commands, modals, shortcuts.

The page (and tests) ask the sandbox to click a button, type a command, submit a modal or use
the message shortcut; the sandbox sends the app exactly what Slack would (form-encoded,
signed with the signing secret, with a ``response_url`` and a ``trigger_id``) to
``<app_url>/slack/interactions`` or ``<app_url>/slack/commands``. What the app answers the
person alone (the immediate reply, or later through the ``response_url``) is kept as an
ephemeral message of the channel. The app's side of Slack is here too: ``views.open`` and
``usergroups.users.list``.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from slack_sdk.signature import SignatureVerifier

from alerting.slack.sandbox.core import (
    JSON,
    Message,
    SandboxState,
    _api_call,
    _api_error,
    _state,
    channel_id_for,
)

#: Slack gives an app this long to answer a request, in seconds.
APP_TIMEOUT_SECONDS = 3.0
MAX_VIEW_BLOCKS = 100

router = APIRouter()


class _AppBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_url: str | None = Field(default=None, pattern=r"^https?://")
    signing_secret: str | None = Field(default=None, min_length=1)
    team_id: str | None = Field(default=None, pattern=r"^[TE][A-Z0-9]{4,20}$")
    user_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    user_name: str | None = Field(default=None, min_length=1, max_length=80)
    usergroups: dict[str, list[str]] | None = None


class _ClickBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str
    ts: str
    action_id: str
    value: str | None = None
    #: For an overflow menu: the chosen option's value.
    option: str | None = None


class _CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str
    text: str = Field(max_length=4000)
    command: str = "/alerts"


class _SubmitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: block_id → the value typed or chosen.
    values: dict[str, str] = Field(default_factory=dict)


class _ShortcutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str
    ts: str
    callback_id: str = "add_resolution_note"


def _who(state: SandboxState) -> JSON:
    return {
        "team": {"id": state.team_id, "domain": "sandbox"},
        "user": {
            "id": state.user_id,
            "username": state.user_name,
            "name": state.user_name,
            "team_id": state.team_id,
        },
    }


def _response_url(request: Request, state: SandboxState, channel: str) -> str:
    token = secrets.token_hex(12)
    state.responders[token] = channel
    return str(request.base_url).rstrip("/") + f"/sandbox/respond/{token}"


def _find(state: SandboxState, channel: str, ts: str) -> Message | None:
    for message in state.messages_in(channel):
        if message.ts == ts:
            return message
    return None


async def _send(
    state: SandboxState, path: str, form: dict[str, str]
) -> tuple[int, str] | JSONResponse:
    """POST ``form`` to the app as Slack would; (status, body) or the page's error."""
    if not state.app_url or not state.signing_secret:
        return JSONResponse(
            {"ok": False, "error": "app_not_configured", "detail": "POST /sandbox/app first"},
            status_code=409,
        )
    body = urlencode(form).encode()
    secret: str = state.signing_secret
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body) or ""
    try:
        async with httpx.AsyncClient(timeout=APP_TIMEOUT_SECONDS) as client:
            resp = await client.post(
                state.app_url.rstrip("/") + path,
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": signature,
                },
            )
    except httpx.HTTPError as exc:
        return JSONResponse({"ok": False, "error": "app_unreachable", "detail": str(exc)}, 502)
    return resp.status_code, resp.text


def _keep_answer(state: SandboxState, channel: str, raw: str) -> None:
    """The app's immediate reply to a command, shown to the person alone."""
    if not raw.strip():
        return
    try:
        data = json.loads(raw)
    except ValueError:
        data = {"text": raw}
    if isinstance(data, dict) and (data.get("text") or data.get("blocks")):
        _ephemeral(state, channel, data)


def _ephemeral(
    state: SandboxState, channel: str, data: JSON, response_url_token: str | None = None
) -> None:
    state.ephemerals.append(
        {
            "channel": channel,
            # Which response_url the answer came through (None: the immediate reply).
            "response_url_token": response_url_token,
            "user": state.user_id,
            "ts": state.next_ts(),
            "text": str(data.get("text") or ""),
            "blocks": data.get("blocks") if isinstance(data.get("blocks"), list) else [],
            "received_at": time.time(),
        }
    )


@router.get("/sandbox/app")
async def get_app(request: Request) -> JSONResponse:
    state = _state(request)
    return JSONResponse(
        {
            "app_url": state.app_url,
            "signed": state.signing_secret is not None,
            "team_id": state.team_id,
            "user_id": state.user_id,
            "user_name": state.user_name,
            "usergroups": state.usergroups,
        }
    )


@router.post("/sandbox/app")
async def set_app(body: _AppBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(state, name, value)
    return await get_app(request)


@router.post("/sandbox/click")
async def click(body: _ClickBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        channel = state.resolve_channel(body.channel)
        message = _find(state, channel, body.ts) if channel else None
        if channel is None or message is None:
            return JSONResponse({"ok": False, "error": "message_not_found"}, 404)
        action: JSON = {
            "action_id": body.action_id,
            "block_id": "",
            "action_ts": f"{time.time():.6f}",
        }
        if body.option is not None:
            action |= {"type": "overflow", "selected_option": {"value": body.option}}
        else:
            action |= {"type": "button", "value": body.value or ""}
        payload = {
            "type": "block_actions",
            **_who(state),
            "api_app_id": "A0SANDBOX",
            "trigger_id": f"{time.time():.6f}.{secrets.token_hex(6)}",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel_id,
            },
            "channel": {"id": message.channel_id, "name": channel.lstrip("#")},
            "message": message.slack_json(),
            "response_url": _response_url(request, state, channel),
            "actions": [action],
        }
    sent = await _send(state, "/slack/interactions", {"payload": json.dumps(payload)})
    if isinstance(sent, JSONResponse):
        return sent
    return JSONResponse({"ok": sent[0] == 200, "status": sent[0], "body": sent[1]})


@router.post("/sandbox/command")
async def command(body: _CommandBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        channel = state.resolve_channel(body.channel)
        if channel is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"}, 404)
        form = {
            "token": "sandbox",
            "team_id": state.team_id,
            "team_domain": "sandbox",
            "channel_id": channel_id_for(channel),
            "channel_name": channel.lstrip("#"),
            "user_id": state.user_id,
            "user_name": state.user_name,
            "command": body.command,
            "text": body.text,
            "api_app_id": "A0SANDBOX",
            "response_url": _response_url(request, state, channel),
            "trigger_id": f"{time.time():.6f}.{secrets.token_hex(6)}",
        }
        # What was typed shows to the person, as Slack echoes a command to its author.
        _ephemeral(state, channel, {"text": f"{body.command} {body.text}".strip()})
    sent = await _send(state, "/slack/commands", form)
    if isinstance(sent, JSONResponse):
        return sent
    async with state.lock():
        if sent[0] == 200:
            _keep_answer(state, channel, sent[1])
        else:
            _ephemeral(state, channel, {"text": f"/{body.command} failed: HTTP {sent[0]}"})
    return JSONResponse({"ok": sent[0] == 200, "status": sent[0], "body": sent[1]})


@router.post("/sandbox/shortcut")
async def shortcut(body: _ShortcutBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        channel = state.resolve_channel(body.channel)
        message = _find(state, channel, body.ts) if channel else None
        if channel is None or message is None:
            return JSONResponse({"ok": False, "error": "message_not_found"}, 404)
        payload = {
            "type": "message_action",
            "callback_id": body.callback_id,
            **_who(state),
            "trigger_id": f"{time.time():.6f}.{secrets.token_hex(6)}",
            "channel": {"id": message.channel_id, "name": channel.lstrip("#")},
            "message": message.slack_json(),
            "response_url": _response_url(request, state, channel),
        }
    sent = await _send(state, "/slack/interactions", {"payload": json.dumps(payload)})
    if isinstance(sent, JSONResponse):
        return sent
    return JSONResponse({"ok": sent[0] == 200, "status": sent[0], "body": sent[1]})


@router.post("/sandbox/respond/{token}")
async def respond(token: str, request: Request) -> JSONResponse:
    """A ``response_url``: the app's later answer to the person who asked."""
    state = _state(request)
    try:
        data = json.loads(await request.body())
    except ValueError:
        return JSONResponse({"ok": False, "error": "invalid_json"}, 400)
    async with state.lock():
        channel = state.responders.get(token)
        if channel is None:
            return JSONResponse({"ok": False, "error": "expired_url"}, 404)
        if not isinstance(data, dict) or not (data.get("text") or data.get("blocks")):
            return JSONResponse({"ok": False, "error": "no_text"}, 400)
        _ephemeral(state, channel, data, token)
    return JSONResponse({"ok": True})


@router.get("/sandbox/ephemeral")
async def ephemeral(request: Request, channel: str | None = None) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        name = state.resolve_channel(channel) if channel else None
        found = [e for e in state.ephemerals if name is None or e["channel"] == name]
    return JSONResponse({"ok": True, "messages": found})


@router.get("/sandbox/views")
async def views(request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        return JSONResponse({"ok": True, "views": list(state.views.values())})


@router.post("/sandbox/views/{view_id}/submit")
async def submit_view(view_id: str, body: _SubmitBody, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        view = state.views.get(view_id)
        if view is None:
            return JSONResponse({"ok": False, "error": "view_not_found"}, 404)
        values: JSON = {}
        for block in view.get("blocks", []):
            element = block.get("element") if isinstance(block, dict) else None
            if not isinstance(element, dict) or block.get("block_id") not in body.values:
                continue
            typed = body.values[block["block_id"]]
            if element.get("type") == "static_select":
                state_value: JSON = {"type": "static_select", "selected_option": {"value": typed}}
            else:
                state_value = {"type": element.get("type"), "value": typed}
            values[block["block_id"]] = {element.get("action_id", "value"): state_value}
        payload = {
            "type": "view_submission",
            **_who(state),
            "api_app_id": "A0SANDBOX",
            "trigger_id": f"{time.time():.6f}.{secrets.token_hex(6)}",
            "view": {**view, "state": {"values": values}},
        }
    sent = await _send(state, "/slack/interactions", {"payload": json.dumps(payload)})
    if isinstance(sent, JSONResponse):
        return sent
    status, raw = sent
    errors: JSON = {}
    if status == 200 and raw.strip():
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("response_action") == "errors":
            errors = answer.get("errors") or {}
    if status == 200 and not errors:
        async with state.lock():
            state.views.pop(view_id, None)
    return JSONResponse({"ok": status == 200 and not errors, "status": status, "errors": errors})


@router.post("/sandbox/views/{view_id}/close")
async def close_view(view_id: str, request: Request) -> JSONResponse:
    state = _state(request)
    async with state.lock():
        closed = state.views.pop(view_id, None) is not None
    return JSONResponse({"ok": closed})


@router.api_route("/api/views.open", methods=["GET", "POST"])
async def views_open(request: Request) -> JSONResponse:
    state, args, refused = await _api_call(request, "views.open")
    if refused is not None or args is None:
        return refused or _api_error("invalid_arguments")
    view = args.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return _api_error("invalid_arguments", "view: not JSON")
    if not args.get("trigger_id"):
        return _api_error("invalid_trigger_id")
    if (
        not isinstance(view, dict)
        or view.get("type") != "modal"
        or not isinstance(view.get("title"), dict)
        or not isinstance(view.get("blocks"), list)
        or len(view["blocks"]) > MAX_VIEW_BLOCKS
    ):
        return _api_error("invalid_arguments", "view: a modal needs a type, title and blocks")
    async with state.lock():
        view_id = f"V{secrets.token_hex(5).upper()}"
        stored = {**view, "id": view_id, "team_id": state.team_id}
        state.views[view_id] = stored
    return JSONResponse({"ok": True, "view": stored})


@router.api_route("/api/usergroups.users.list", methods=["GET", "POST"])
async def usergroups_users_list(request: Request) -> JSONResponse:
    state, args, refused = await _api_call(request, "usergroups.users.list")
    if refused is not None or args is None:
        return refused or _api_error("invalid_arguments")
    group = args.get("usergroup")
    if not isinstance(group, str) or group not in state.usergroups:
        return _api_error("no_such_subteam")
    return JSONResponse({"ok": True, "users": state.usergroups[group]})


class _ResponseUrlBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str


@router.post("/sandbox/response_urls")
async def new_response_url(body: _ResponseUrlBody, request: Request) -> JSONResponse:
    """A ``response_url`` whose answers show in ``channel``, for a caller that sends Slack's
    requests itself (tests, the bench)."""
    state = _state(request)
    async with state.lock():
        channel = state.resolve_channel(body.channel)
        if channel is None:
            return JSONResponse({"ok": False, "error": "channel_not_found"}, 404)
        return JSONResponse({"ok": True, "url": _response_url(request, state, channel)})
