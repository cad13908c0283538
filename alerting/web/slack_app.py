"""The Slack app surface on Bolt for Python: commands, buttons, modals, the message shortcut.

Every request has passed :mod:`alerting.web.slack_guard` first. Bolt then verifies it again,
finds the tenant of the Slack team (``before_authorize``: a team that is no tenant's is refused
with 404), gives it the tenant's bot token (``authorize``) and routes it to one listener. A
listener only acknowledges within Slack's three seconds and queues the work on the tenant's
queue (``alerting.chatops``); the worker changes the alert, updates its message in place and
answers the caller alone through the request's ``response_url``. Opening the silence modal is
the one Slack call made here, since its ``trigger_id`` expires in three seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from alerting.chatops.commands import USAGE, Verb
from alerting.chatops.permissions import ChatopsConfig
from alerting.db.models import Tenant
from alerting.db.repositories import load_tenant
from alerting.db.session import session_scope
from alerting.domain.durations import parse_duration
from alerting.i18n import FALLBACK_LOCALE, SUPPORTED_LOCALES, translator
from alerting.producer import producer_app
from alerting.queues import CHATOPS_TASK, tenant_urgent_queue
from alerting.secrets import SecretBox
from alerting.settings import Settings
from alerting.slack.formatter import (
    ACTION_ACK,
    ACTION_ESCALATE,
    ACTION_MORE,
    ACTION_RESOLVE,
    ACTION_SILENCE,
    ACTION_SILENCE_1H,
)

log = logging.getLogger(__name__)

#: ``callback_id`` of the silence modal and of the message shortcut.
SILENCE_MODAL = "alert_silence_modal"
NOTE_SHORTCUT = "add_resolution_note"
#: The modal's choices, in seconds; "custom" reads the text field.
SILENCE_CHOICES = {"15m": 900, "1h": 3600, "4h": 14400}
#: Longest silence the modal sets, in seconds.
MAX_MODAL_SILENCE_SECONDS = 30 * 86400
#: Button ``action_id`` → what the worker does.
BUTTON_ACTIONS = {
    ACTION_ACK: "acknowledge",
    ACTION_RESOLVE: "resolve",
    ACTION_SILENCE_1H: "silence",
    ACTION_ESCALATE: "escalate",
}
KNOWN_ACTIONS = frozenset({*BUTTON_ACTIONS, ACTION_SILENCE, ACTION_MORE})
_ID_RE = re.compile(r"[0-9a-fA-F-]{1,36}")


def _tenant_of_team(team_id: str) -> dict[str, Any] | None:
    with session_scope() as session:
        row = session.execute(
            select(Tenant.id, Tenant.config).where(
                Tenant.config["slack_config"]["team_id"].astext == team_id
            )
        ).first()
    if row is None:
        return None
    languages = row.config["slack_config"].get("languages") or [FALLBACK_LOCALE]
    return {
        "tenant_id": row.id,
        "locale": languages[0] if languages[0] in SUPPORTED_LOCALES else FALLBACK_LOCALE,
        "chatops": ChatopsConfig.model_validate(row.config.get("chatops") or {}),
    }


def _bot_token(settings: Settings, tenant_id: str) -> str | None:
    with session_scope() as session:
        token = load_tenant(session, tenant_id, SecretBox.from_settings(settings)).bot_token
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return token


def _refusal(status: int, reason: str) -> BoltResponse:
    return BoltResponse(
        status=status,
        body=json.dumps({"detail": reason}),
        headers={"content-type": "application/json"},
    )


def create_bolt_app(settings: Settings) -> AsyncApp:
    secret = settings.slack_signing_secret
    assert secret is not None  # the guard answers 503 before Bolt is ever built without it

    async def find_tenant(
        req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        team_id = req.context.team_id
        found = await asyncio.to_thread(_tenant_of_team, team_id) if team_id else None
        if found is None:
            return _refusal(404, "team: this Slack workspace belongs to no tenant")
        req.context.update(found)
        return await next()

    async def authorize(context: AsyncBoltContext, team_id: str | None) -> AuthorizeResult:
        # The tenant was found by before_authorize. Its bot token is decrypted only by the
        # one listener that calls Slack from here (the silence modal): every other request
        # just queues work, and decrypting per request would cost each of them.
        return AuthorizeResult(enterprise_id=None, team_id=team_id, bot_user_id="", bot_id="")

    bolt = AsyncApp(
        signing_secret=secret.get_secret_value(),
        before_authorize=find_tenant,
        authorize=authorize,
        # Listeners only queue work: answering after them keeps "200" meaning "queued".
        process_before_response=True,
        client=AsyncWebClient(base_url=settings.slack_api_url, timeout=3),
        ssl_check_enabled=False,
        url_verification_enabled=False,
    )

    @bolt.middleware
    async def known_actions(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        if body.get("type") == "block_actions":
            actions = body.get("actions")
            if not isinstance(actions, list) or not actions:
                return _refusal(400, "payload: no actions")
            for action in actions:
                if not isinstance(action, dict) or action.get("action_id") not in KNOWN_ACTIONS:
                    return _refusal(400, "payload: not a Slack block action of this app")
        await next()
        return None

    async def queue(context: AsyncBoltContext, body: dict[str, Any], **work: Any) -> None:
        user = body.get("user") or {}
        request = {
            "tenant_id": context["tenant_id"],
            "user_id": str(user.get("id") or body.get("user_id") or ""),
            "user_name": str(
                user.get("username")
                or user.get("name")
                or body.get("user_name")
                or user.get("id")
                or body.get("user_id")
                or "someone"
            ),
            "response_url": body.get("response_url") or None,
            **work,
        }
        await asyncio.to_thread(
            producer_app().send_task,
            CHATOPS_TASK,
            kwargs={"tenant_id": context["tenant_id"], "request": request},
            # A person is waiting for the answer: the tenant's urgent lane, ahead of its backlog.
            queue=tenant_urgent_queue(context["tenant_id"]),
        )
        log.info("slack %s by %s queued", work.get("kind"), request["user_name"])

    async def open_silence_modal(
        context: AsyncBoltContext, body: dict[str, Any], alert_id: str
    ) -> None:
        trigger_id = body.get("trigger_id")
        if not isinstance(trigger_id, str) or context.client is None:
            return
        token = await asyncio.to_thread(_bot_token, settings, context["tenant_id"])
        metadata = json.dumps({"alert_id": alert_id, "response_url": body.get("response_url")})
        view = silence_modal(context["locale"], metadata)
        await context.client.views_open(token=token, trigger_id=trigger_id, view=view)

    @bolt.action(re.compile(r"^alert_(acknowledge|resolve|silence_1h|escalate)$"))
    async def button(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        await queue(
            context,
            body,
            kind="action",
            action=BUTTON_ACTIONS[action["action_id"]],
            alert_id=_alert_id(action.get("value")),
            seconds=3600 if action["action_id"] == ACTION_SILENCE_1H else None,
            comment="Silence 1h from Slack" if action["action_id"] == ACTION_SILENCE_1H else "",
        )

    @bolt.action(ACTION_SILENCE)
    async def silence_button(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        await open_silence_modal(context, body, _alert_id(action.get("value")))

    @bolt.action(ACTION_MORE)
    async def more_menu(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        choice, _, alert_id = str((action.get("selected_option") or {}).get("value")).partition(":")
        if choice == "silence":
            await open_silence_modal(context, body, _alert_id(alert_id))
        elif choice == "escalate":
            await queue(
                context, body, kind="action", action="escalate", alert_id=_alert_id(alert_id)
            )

    @bolt.view(SILENCE_MODAL)
    async def silence_submitted(
        ack: AsyncAck, view: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        tr = translator(context["locale"])
        values = _view_values(view)
        choice = values.get("duration") or "1h"
        if choice in SILENCE_CHOICES:
            seconds: float = SILENCE_CHOICES[choice]
        else:
            try:
                seconds = parse_duration(values.get("custom") or "")
            except ValueError:
                seconds = 0
            if not 0 < seconds <= MAX_MODAL_SILENCE_SECONDS:
                await ack(
                    response_action="errors",
                    errors={"custom": tr.gettext("Write a duration such as 30m, 2h or 1h30m.")},
                )
                return
        await ack()
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            metadata = {}
        await queue(
            context,
            {**body, "response_url": metadata.get("response_url")},
            kind="view",
            action="silence",
            alert_id=_alert_id(metadata.get("alert_id")),
            seconds=seconds,
            comment=(values.get("comment") or "")[:1000],
        )

    @bolt.shortcut(NOTE_SHORTCUT)
    async def resolution_note(
        ack: AsyncAck, shortcut: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        message = shortcut.get("message") or {}
        await queue(
            context,
            shortcut,
            kind="shortcut",
            action="note",
            channel_id=str((shortcut.get("channel") or {}).get("id") or ""),
            message_ts=str(message.get("thread_ts") or message.get("ts") or ""),
            comment=str(message.get("text") or "")[:3000],
        )

    @bolt.command(re.compile(r"^/[a-z0-9_\-]+$"))
    async def slash_command(
        ack: AsyncAck, command: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        chatops: ChatopsConfig = context["chatops"]
        if command.get("command") != chatops.command:
            tr = translator(context["locale"])
            await ack(
                tr.gettext("This workspace's command is %(command)s.", command=chatops.command)
                + f" `{chatops.command} {USAGE[Verb.HELP]}`"
            )
            return
        await ack()
        await queue(
            context,
            command,
            kind="command",
            command=str(command.get("command")),
            text=str(command.get("text") or ""),
        )

    return bolt


def _alert_id(value: Any) -> str:
    """An alert id as a button carries it; anything else becomes an id nothing matches."""
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else "-"


def _view_values(view: dict[str, Any]) -> dict[str, str]:
    """``{block_id: value}`` of a submitted modal's inputs (selects and text fields)."""
    out: dict[str, str] = {}
    state = (view.get("state") or {}).get("values") or {}
    for block_id, actions in state.items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if not isinstance(element, dict):
                continue
            selected = element.get("selected_option")
            if isinstance(selected, dict) and isinstance(selected.get("value"), str):
                out[block_id] = selected["value"]
            elif isinstance(element.get("value"), str):
                out[block_id] = element["value"]
    return out


def silence_modal(locale: str, private_metadata: str) -> dict[str, Any]:
    """The Silence modal: 15 m / 1 h / 4 h / custom, and a comment."""
    tr = translator(locale)

    def option(value: str, label: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": label}, "value": value}

    options = [
        option("15m", tr.gettext("15 minutes")),
        option("1h", tr.gettext("1 hour")),
        option("4h", tr.gettext("4 hours")),
        option("custom", tr.gettext("Custom")),
    ]
    return {
        "type": "modal",
        "callback_id": SILENCE_MODAL,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": tr.gettext("Silence alert")},
        "submit": {"type": "plain_text", "text": tr.gettext("Silence")},
        "close": {"type": "plain_text", "text": tr.gettext("Cancel")},
        "blocks": [
            {
                "type": "input",
                "block_id": "duration",
                "label": {"type": "plain_text", "text": tr.gettext("For how long")},
                "element": {
                    "type": "static_select",
                    "action_id": "duration",
                    "options": options,
                    "initial_option": options[1],
                },
            },
            {
                "type": "input",
                "block_id": "custom",
                "optional": True,
                "label": {"type": "plain_text", "text": tr.gettext("Custom duration")},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "custom",
                    "placeholder": {"type": "plain_text", "text": "1h30m"},
                },
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": tr.gettext("Comment")},
                "element": {"type": "plain_text_input", "action_id": "comment", "multiline": True},
            },
        ],
    }
