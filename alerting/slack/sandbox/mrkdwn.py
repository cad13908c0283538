"""Slack's mrkdwn as HTML, the way Slack shows it: bold, italics, strike, code, quotes, links,
user / channel / group mentions, and ``:emoji:`` as Unicode. Everything else is text, escaped."""

from __future__ import annotations

import html
import re

import emoji

#: ``<…>`` entities Slack reads in message text; anything else in angle brackets is text.
_ENTITY_RE = re.compile(r"<((?:https?://|mailto:|@|#|!)[^<>\s]*(?:\|[^<>]*)?)>")
_CODE_BLOCK_RE = re.compile(r"```(.*?)```", re.S)
_CODE_RE = re.compile(r"`([^`\n]+)`")
_BOLD_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC_RE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")
_QUOTE_RE = re.compile(r"^&gt; ?(.*)$", re.M)
#: Stand-ins for pieces already rendered while the rest is escaped and styled.
_SLOT = "\x00{}\x00"
_SLOT_RE = re.compile("\x00(\\d+)\x00")


def unescape_slack(text: str) -> str:
    """Slack's three escapes undone (``&lt;`` ``&gt;`` ``&amp;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def emojize(text: str) -> str:
    def one(found: re.Match[str]) -> str:
        shown = emoji.emojize(found.group(0), language="alias")
        return shown if shown != found.group(0) else found.group(0)

    return _EMOJI_RE.sub(one, text)


def to_html(text: str) -> str:
    """A mrkdwn text as safe HTML."""
    slots: list[str] = []

    def keep(rendered: str) -> str:
        slots.append(rendered)
        return _SLOT.format(len(slots) - 1)

    text = text.replace("\x00", "")
    text = _CODE_BLOCK_RE.sub(
        lambda m: keep(f"<pre>{html.escape(unescape_slack(m.group(1)).strip(chr(10)))}</pre>"),
        text,
    )
    text = _CODE_RE.sub(
        lambda m: keep(f"<code>{html.escape(unescape_slack(m.group(1)))}</code>"), text
    )
    text = _ENTITY_RE.sub(lambda m: keep(_entity(m.group(1))), text)
    # Slack's own escapes are undone, then the text is escaped again for HTML.
    out = html.escape(unescape_slack(text), quote=False)
    out = _BOLD_RE.sub(r"<b>\1</b>", out)
    out = _ITALIC_RE.sub(r"<i>\1</i>", out)
    out = _STRIKE_RE.sub(r"<s>\1</s>", out)
    out = _QUOTE_RE.sub(r'<span class="quote">\1</span>', out)
    out = emojize(out)
    return _SLOT_RE.sub(lambda m: slots[int(m.group(1))], out)


def _entity(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return f'<span class="mention">@{html.escape(label or target[1:])}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{html.escape(label or target[1:])}</span>'
    if target.startswith("!"):
        name = target[1:]
        if name.startswith("subteam^"):
            shown = label or "@" + name.removeprefix("subteam^")
            return f'<span class="mention">{html.escape(shown)}</span>'
        return f'<span class="mention">@{html.escape(label or name)}</span>'
    href = html.escape(unescape_slack(target), quote=True)
    shown = html.escape(unescape_slack(label or target), quote=False)
    return f'<a href="{href}" target="_blank" rel="noopener noreferrer">{emojize(shown)}</a>'
