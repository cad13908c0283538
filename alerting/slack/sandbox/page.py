"""The sandbox's page: every channel as Slack shows it, live, and clickable.

Messages render as Slack does (mrkdwn, emoji, colour bars, fields, context, threads that
expand, "edited" marks); buttons and overflow menus send signed ``block_actions`` to the app
(:mod:`alerting.slack.sandbox.interactive`); the composer sends slash commands; the app's
modals open over the page and submit. The page updates itself from ``/sandbox/page`` once a
second (a page without JavaScript reloads every two seconds instead). Each message keeps its
Block Kit source, folded, for the developer.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from alerting.slack.sandbox.core import (
    _DEFAULT_COLOUR,
    _HEX_COLOUR,
    _NAMED_COLOURS,
    JSON,
    PAGE_REFRESH_SECONDS,
    Message,
    SandboxState,
    _plain,
    _state,
    channel_id_for,
)
from alerting.slack.sandbox.mrkdwn import emojize, to_html

router = APIRouter()

_HERE = Path(__file__).parent
_CSS = (_HERE / "page.css").read_text(encoding="utf-8")
_JS = (_HERE / "page.js").read_text(encoding="utf-8")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _colour(value: Any) -> str:
    # Only known-safe values reach the style attribute; escaping alone would not stop CSS
    # injection there.
    if isinstance(value, str):
        if value in _NAMED_COLOURS:
            return _NAMED_COLOURS[value]
        if _HEX_COLOUR.fullmatch(value):
            return value if value.startswith("#") else f"#{value}"
    return _DEFAULT_COLOUR


def _text(obj: Any) -> str:
    """A text object as HTML: mrkdwn rendered, plain text escaped (with emoji)."""
    if isinstance(obj, dict) and obj.get("type") == "plain_text":
        return emojize(_esc(obj.get("text", "")))
    return to_html(_plain(obj) or "")


def _data(value: JSON) -> str:
    return _esc(json.dumps(value))


def _element(element: Any, where: JSON) -> str:
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        spec = {**where, "action_id": element.get("action_id", ""), "value": element.get("value")}
        style = element.get("style")
        cls = f"btn {style}" if style in ("primary", "danger") else "btn"
        return (
            f'<button class="{cls}" data-click="{_data(spec)}">'
            f"{_text(element.get('text'))}</button>"
        )
    if kind == "overflow":
        spec = {**where, "action_id": element.get("action_id", "")}
        options = "".join(
            f'<option value="{_esc(o.get("value", ""))}">{_text(o.get("text"))}</option>'
            for o in element.get("options") or []
            if isinstance(o, dict)
        )
        return (
            f'<select class="overflow" aria-label="More actions" data-overflow="{_data(spec)}">'
            f'<option value="">⋯</option>{options}</select>'
        )
    if kind == "image":
        return f'<span class="ctx">[{_esc(element.get("alt_text", "image"))}]</span>'
    return _text(element)


def _render_blocks(blocks: Sequence[Any], where: JSON) -> str:
    parts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            parts.append(f'<div class="hdr">{_text(block.get("text"))}</div>')
        elif kind == "section":
            accessory = block.get("accessory")
            if accessory:
                parts.append(f'<div class="accessory">{_element(accessory, where)}</div>')
            if block.get("text"):
                parts.append(f'<div class="text">{_text(block.get("text"))}</div>')
            fields = block.get("fields")
            if isinstance(fields, list) and fields:
                cells = "".join(f"<div>{_text(f)}</div>" for f in fields)
                parts.append(f'<div class="fields">{cells}</div>')
        elif kind == "context":
            elements = block.get("elements")
            bits = [_element(e, where) for e in (elements if isinstance(elements, list) else [])]
            parts.append(f'<div class="ctx">{" · ".join(b for b in bits if b)}</div>')
        elif kind == "actions":
            elements = block.get("elements") or []
            buttons = "".join(_element(e, where) for e in elements)
            parts.append(f'<div class="actions">{buttons}</div>')
        elif kind == "divider":
            parts.append("<hr>")
        else:
            parts.append(f'<div class="ctx">[{_esc(kind)} block]</div>')
    return "".join(parts)


def _render_attachment(attachment: JSON, inner: str = "") -> str:
    parts = [f'<div class="att" style="border-left-color:{_colour(attachment.get("color"))}">']
    parts.append(inner)
    for key in ("pretext", "title"):
        if attachment.get(key):
            parts.append(f'<div class="hdr">{_esc(attachment[key])}</div>')
    if attachment.get("text"):
        parts.append(f'<div class="text">{to_html(str(attachment["text"]))}</div>')
    fields = attachment.get("fields")
    if isinstance(fields, list) and fields:
        cells = "".join(
            f"<div><b>{_esc(f.get('title', ''))}</b> {to_html(str(f.get('value', '')))}</div>"
            for f in fields
            if isinstance(f, dict)
        )
        parts.append(f'<div class="fields">{cells}</div>')
    blocks = attachment.get("blocks")
    if isinstance(blocks, list):
        parts.append(_render_blocks(blocks, {}))
    if attachment.get("footer"):
        parts.append(f'<div class="ctx">{_esc(attachment["footer"])}</div>')
    parts.append("</div>")
    return "".join(parts)


def _render_message(message: Message, replies: Sequence[Message]) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(message.received_at))
    where = {"channel": message.channel, "ts": message.ts}
    meta = [f'<span class="meta">{_esc(when)}</span>']
    if message.edits:
        meta.append(
            '<span class="meta">(edited)</span> '
            f'<span class="badge">edited {message.edits} times</span>'
        )
    if message.reply_broadcast:
        meta.append('<span class="badge">also sent to channel</span>')
    shortcut = _data({**where, "callback_id": "add_resolution_note"})
    parts = [
        f'<div class="msg" data-ts="{_esc(message.ts)}"><div class="avatar">A</div><div>',
        f'<div class="hover"><button class="btn" data-shortcut="{shortcut}">'
        "Add resolution note</button></div>",
        '<div><span class="who">Alerting</span><span class="app">APP</span> '
        f"{' '.join(meta)}</div>",
    ]
    body = _render_blocks(message.blocks, where)
    if not message.blocks and message.text:
        body = f'<div class="text">{to_html(message.text)}</div>'
    # A colour bar with nothing of its own (the formatter's) frames the message's blocks.
    bare = [
        a
        for a in message.attachments
        if not any(a.get(k) for k in ("text", "title", "pretext", "fields", "blocks"))
    ]
    if bare:
        body = _render_attachment(bare[0], body)
    parts.append(body)
    parts.extend(_render_attachment(a) for a in message.attachments if a not in bare)
    if message.blocks:
        # The fallback text is what notifications and screen readers get: show it too.
        source = _esc(
            f"text: {message.text}\nblocks: "
            + json.dumps(message.blocks, indent=1, ensure_ascii=False)
        )
        parts.append(
            f'<details class="src"><summary>Block Kit</summary><pre>{source}</pre></details>'
        )
    if replies:
        inner = "".join(_render_message(r, ()) for r in replies)
        label = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
        parts.append(
            f'<details class="replies" data-key="{_esc(message.channel + message.ts)}">'
            f"<summary>{label}</summary><div>{inner}</div></details>"
        )
    parts.append("</div></div>")
    return "".join(parts)


def _render_ephemeral(entry: JSON) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(entry["received_at"]))
    body = _render_blocks(entry.get("blocks") or [], {}) or (
        f'<div class="text">{to_html(entry.get("text", ""))}</div>'
    )
    return (
        '<div class="msg ephemeral"><div class="avatar">A</div><div>'
        f'<div><span class="who">Alerting</span><span class="app">APP</span> '
        f'<span class="meta">{_esc(when)} · Only visible to you</span></div>{body}</div></div>'
    )


def render_feed(state: SandboxState) -> str:
    """Every channel, oldest message first, with its threads and the person's ephemerals."""
    sections: list[str] = []
    names = sorted(set(state.channels()) | {e["channel"] for e in state.ephemerals})
    for name in names:
        messages = state.messages_in(name)
        replies: dict[str, list[Message]] = {}
        for m in messages:
            if m.thread_ts is not None:
                replies.setdefault(m.thread_ts, []).append(m)
        top = sorted((m for m in messages if m.thread_ts is None), key=lambda m: Decimal(m.ts))
        items = [(Decimal(m.ts), _render_message(m, replies.get(m.ts, []))) for m in top]
        items += [
            (Decimal(e["ts"]), _render_ephemeral(e))
            for e in state.ephemerals
            if e["channel"] == name
        ]
        body = "".join(html_ for _, html_ in sorted(items, key=lambda item: item[0]))
        channel_state = state.channel_states.get(name, "ok")
        badge = "" if channel_state == "ok" else f' <span class="badge bad">{channel_state}</span>'
        sections.append(
            f'<section><h2 id="{_esc(channel_id_for(name))}">{_esc(name)}{badge} '
            f'<span class="meta">{_esc(channel_id_for(name))} · {len(messages)} messages · '
            f"{state.rate_limited.get(name, 0)} 429s · max {state.max_rate.get(name, 0)}/s · "
            f"{state.abandoned.get(name, 0)} abandoned</span></h2>"
            f"{body or '<p class=meta>no messages</p>'}</section>"
        )
    return "".join(sections) or "<p class=meta style='padding:20px'>No messages yet.</p>"


def render_modal(view: JSON) -> str:
    blocks = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") != "input":
            blocks.append(_render_blocks([block], {}))
            continue
        block_id = _esc(block.get("block_id", ""))
        element = block.get("element") or {}
        optional = ' <span class="opt">(optional)</span>' if block.get("optional") else ""
        label = f'<label for="f-{block_id}">{_text(block.get("label"))}{optional}</label>'
        if element.get("type") == "static_select":
            initial = (element.get("initial_option") or {}).get("value")
            options = "".join(
                f'<option value="{_esc(o.get("value", ""))}"'
                f"{' selected' if o.get('value') == initial else ''}>"
                f"{_text(o.get('text'))}</option>"
                for o in element.get("options") or []
                if isinstance(o, dict)
            )
            field = f'<select id="f-{block_id}" name="{block_id}">{options}</select>'
        elif element.get("multiline"):
            field = f'<textarea id="f-{block_id}" name="{block_id}" rows="3"></textarea>'
        else:
            placeholder = _esc(_plain(element.get("placeholder")) or "")
            field = f'<input id="f-{block_id}" name="{block_id}" placeholder="{placeholder}">'
        blocks.append(f'{label}{field}<div class="err" data-err="{block_id}"></div>')
    view_id = _esc(view.get("id", ""))
    submit = _text(view.get("submit")) or "Submit"
    close = _text(view.get("close")) or "Cancel"
    return (
        f'<div class="overlay"><form class="modal" data-view="{view_id}">'
        f'<h3>{_text(view.get("title"))}</h3><div class="body">{"".join(blocks)}</div>'
        f'<div class="foot"><button type="button" class="btn" data-close="{view_id}">{close}'
        f'</button><button type="submit" class="btn primary">{submit}</button></div></form></div>'
    )


def render_page(state: SandboxState) -> str:
    stats = state.stats()
    links = "".join(
        f'<a href="#{_esc(channel_id_for(name))}">{_esc(name)}'
        f'<span class="count">{len(state.messages_in(name))}</span></a>'
        for name in state.channels()
    )
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f'<noscript><meta http-equiv="refresh" content="{PAGE_REFRESH_SECONDS}"></noscript>'
        f"<title>Slack sandbox</title><style>{_CSS}</style>"
        '<script src="/sandbox/page.js" defer></script></head><body>'
        f'<nav><h1>Slack sandbox</h1>{links}<div class="stats">{stats["messages"]} messages, '
        f"{stats['requests']} requests, rate limit {'on' if state.rate_limit else 'off'} "
        f"({state.burst} burst, {state.per_second:g}/s per channel)<br>"
        f"as {_esc(state.user_name)} in {_esc(state.team_id)}</div></nav>"
        f'<main><div id="feed">{render_feed(state)}</div><div id="status"></div>'
        '<form id="composer"><select id="channel" aria-label="channel">'
        + "".join(f"<option>{_esc(n)}</option>" for n in state.channels())
        + '</select><input id="text" autocomplete="off" '
        'placeholder="Type a slash command, e.g. /alerts help"></form></main>'
        '<div id="modal"></div></body></html>'
    )


@router.get("/")
async def index(request: Request) -> HTMLResponse:
    state = _state(request)
    async with state.lock():
        page = render_page(state)
    return HTMLResponse(page)


@router.get("/sandbox/page")
async def page_update(request: Request) -> JSONResponse:
    """What the page's script swaps in: the feed, the channels, the open modal."""
    state = _state(request)
    async with state.lock():
        modal = next(reversed(state.views.values()), None)
        return JSONResponse(
            {
                "html": render_feed(state),
                "channels": sorted(
                    set(state.channels()) | {e["channel"] for e in state.ephemerals}
                ),
                "modal": render_modal(modal) if modal else "",
                "modal_id": modal["id"] if modal else "",
            }
        )


@router.get("/sandbox/page.js")
async def page_script() -> Response:
    return Response(_JS, media_type="text/javascript")
