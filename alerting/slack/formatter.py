"""SlackAlertFormatter: an alert as Block Kit, always within Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from alerting.domain.events import Severity
from alerting.domain.routing import MENTION_RE
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.i18n import FALLBACK_LOCALE, Translator, translator
from alerting.slack.templates import RenderedAlert, SlackTemplateEngine

#: Slack's limits, in characters (text) or items (blocks, fields).
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_TEXT_CHARS = 40_000
MAX_CONTEXT_ELEMENTS = 10
#: Labels shown as fields before the rest are summarised ("… 37 more labels").
SHOWN_LABELS = 6
#: Longest label value shown in a message, in characters (the rest is cut with "…").
MAX_LABEL_SHOWN_CHARS = 200

#: ``action_id`` of the buttons, read back by the Slack interactions endpoint.
ACTION_ACK = "alert_acknowledge"
ACTION_RESOLVE = "alert_resolve"
ACTION_SILENCE_1H = "alert_silence_1h"
#: The "More" menu beside the buttons (Escalate now, Silence…), and what it sends.
ACTION_MORE = "alert_more"
ACTION_ESCALATE = "alert_escalate"
#: Opens the silence modal (15 m / 1 h / 4 h / custom).
ACTION_SILENCE = "alert_silence"

SEVERITY_EMOJI = {
    Severity.CRITICAL: ":red_circle:",
    Severity.ERROR: ":large_orange_circle:",
    Severity.WARNING: ":large_yellow_circle:",
    Severity.INFO: ":large_blue_circle:",
}
SEVERITY_COLOUR = {
    Severity.CRITICAL: "#D32F2F",
    Severity.ERROR: "#F57C00",
    Severity.WARNING: "#FBC02D",
    Severity.INFO: "#1976D2",
}
RESOLVED_COLOUR = "#2E7D32"
ACKNOWLEDGED_COLOUR = "#757575"

_MENTION_RE = re.compile(r"<([!@#][^>]*)>")
#: Stands for the mention while the sentence around it is escaped.
_WHO = "\x00who\x00"


def escape_mrkdwn(text: str, *, allow_mentions: bool = False) -> str:
    """Slack's three control characters; mentions survive only when the tenant allows them."""
    if allow_mentions:
        parts = _MENTION_RE.split(text)
        # split() keeps captured groups at odd indexes: those are the mentions.
        return "".join(f"<{part}>" if i % 2 else _escape(part) for i, part in enumerate(parts))
    return _escape(text)


def mentions_in(text: str) -> frozenset[str]:
    """The Slack mentions (``<@U…>``, ``<!subteam^…>``, ``<!here>``) written in ``text``."""
    return frozenset(f"<{inner}>" for inner in _MENTION_RE.findall(text))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_keeping(text: str, mentions: frozenset[str]) -> str:
    """Escaped, except the mentions the operator configured (the rest of the text may carry
    the alert's words, which never get to notify anyone this way)."""
    if not mentions:
        return _escape(text)
    parts = _MENTION_RE.split(text)
    # split() keeps captured groups at odd indexes: those are the mentions.
    shown = (f"<{part}>" if i % 2 else part for i, part in enumerate(parts))
    return "".join(part if part in mentions else _escape(part) for part in shown)


#: Whitespace and controls end a Slack link early or break it: such a URL is not linked.
_UNSAFE_IN_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def link_url(url: str) -> str:
    """``url`` as Slack needs it inside ``<url|label>``: ``&``, ``<``, ``>`` as entities (so
    ``<!here>`` in a URL stays text), and ``|``, which would end the URL, percent-encoded."""
    return _escape(url).replace("|", "%7C")


def truncate(text: str, limit: int, *, marker: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


class SlackAlertFormatter:
    """Builds the Slack payload of one notification: blocks, colour bar and fallback text.

    The structure is decided here; the words come from the SlackTemplateEngine (title,
    summary, which fields in what order) and the message catalogs, in the channel's locales.
    """

    def __init__(self, engine: SlackTemplateEngine | None = None) -> None:
        self.engine = engine or SlackTemplateEngine()

    def format(
        self, alert: AlertView, kind: NotificationKind, options: MessageOptions | None = None
    ) -> dict[str, Any]:
        options = options or MessageOptions()
        locale, *others = options.locales
        tr = translator(locale)
        rendered = self.engine.render(alert, locale)
        title = self._title(alert, kind, rendered, tr)
        blocks: list[Any] = [
            HeaderBlock(text=PlainTextObject(text=truncate(title, MAX_HEADER_CHARS)))
        ]
        for note in options.notes:
            blocks.append(_section(_escape_keeping(note, options.mentions)))
        mention = _mention(options.mention)
        if mention:
            blocks.append(
                _section(_escape(tr.gettext("Attention: %(who)s", who=_WHO)).replace(_WHO, mention))
            )
        blocks.append(_section(self._summary(rendered, options, tr), tr=tr))
        if rendered.note:
            blocks.append(_section(_escape_keeping(rendered.note, options.mentions)))
        fields = self._fields(alert, kind, rendered, tr)
        if fields:
            blocks.append(SectionBlock(fields=fields))
        links = self._links(alert, tr)
        if links:
            blocks.append(_section(links))
        for other in others:
            # A bilingual channel: the same words in its second language, below the first.
            second = self.engine.render(alert, other)
            second_tr = translator(other)
            blocks.append(DividerBlock())
            text = f"*{_escape(self._title(alert, kind, second, second_tr))}*\n"
            blocks.append(_section(text + self._summary(second, options, second_tr), tr=tr))
        if options.interactive and alert.status != "resolved":
            blocks.append(self._buttons(alert, tr))
            blocks.append(self._more(alert, tr))
        blocks.append(DividerBlock())
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=self._context(alert, tr))]))
        colour = self._colour(alert, kind)
        text = truncate(f"{title}: {_escape(alert.message)}", MAX_TEXT_CHARS)
        if mention:
            # The notification preview shows the fallback text: the mention leads it.
            text = truncate(f"{mention} {text}", MAX_TEXT_CHARS)
        return {
            "text": text,
            "blocks": [b.to_dict() for b in blocks[:MAX_BLOCKS]],
            "attachments": [{"color": colour, "fallback": truncate(title, MAX_HEADER_CHARS)}],
        }

    def thread_reply(
        self, alert: AlertView, kind: NotificationKind, locale: str = FALLBACK_LOCALE
    ) -> str:
        """The line a follow-up adds to the alert's thread (Web API mode)."""
        tr = translator(locale)
        # Who acted is left out when unknown (a producer's resolution), never shown as "?".
        if kind is NotificationKind.ACKNOWLEDGED:
            if not alert.acknowledged_by:
                return ":eyes: " + tr.gettext("Acknowledged")
            who = _escape(alert.acknowledged_by)
            return ":eyes: " + tr.gettext("Acknowledged by %(who)s", who=who)
        if kind is NotificationKind.RESOLVED:
            after = tr.duration((alert.resolved_at or alert.last_seen_at) - alert.first_seen_at)
            if not alert.resolved_by:
                return ":white_check_mark: " + tr.gettext(
                    "Resolved after %(duration)s", duration=after
                )
            who = _escape(alert.resolved_by)
            return ":white_check_mark: " + tr.gettext(
                "Resolved by %(who)s after %(duration)s", who=who, duration=after
            )
        if kind is NotificationKind.ESCALATED:
            waited = tr.duration(datetime.now(UTC) - alert.first_seen_at)
            return ":rotating_light: " + tr.gettext(
                "Escalated: not acknowledged after %(duration)s", duration=waited
            )
        since = tr.datetime(alert.first_seen_at)
        return ":repeat: " + tr.gettext(
            "Fired again: %(count)s times since %(since)s",
            count=tr.number(alert.count),
            since=since,
        )

    def _summary(self, rendered: RenderedAlert, options: MessageOptions, tr: Translator) -> str:
        # The template's summary carries the alert's own text: escaped as data, always.
        summary = escape_mrkdwn(rendered.summary, allow_mentions=options.allow_mentions)
        return summary if summary.strip() else tr.gettext("(no message)")

    def _buttons(self, alert: AlertView, tr: Translator) -> ActionsBlock:
        buttons = []
        if alert.status == "firing":
            buttons.append(
                ButtonElement(
                    text=tr.gettext("Acknowledge"),
                    action_id=ACTION_ACK,
                    value=alert.alert_id,
                    style="primary",
                )
            )
        buttons.append(
            ButtonElement(
                text=tr.gettext("Resolve"), action_id=ACTION_RESOLVE, value=alert.alert_id
            )
        )
        buttons.append(
            ButtonElement(
                text=tr.gettext("Silence 1h"), action_id=ACTION_SILENCE_1H, value=alert.alert_id
            )
        )
        return ActionsBlock(block_id=f"alert:{alert.alert_id}", elements=buttons)

    def _more(self, alert: AlertView, tr: Translator) -> SectionBlock:
        """Escalate now and the silence modal, in a menu beside the buttons."""
        choices = []
        if alert.status == "firing":
            choices.append(
                Option(text=tr.gettext("Escalate now"), value=f"escalate:{alert.alert_id}")
            )
        choices.append(Option(text=tr.gettext("Silence…"), value=f"silence:{alert.alert_id}"))
        return SectionBlock(
            block_id=f"more:{alert.alert_id}",
            text=MarkdownTextObject(text=tr.gettext("More actions")),
            accessory=OverflowMenuElement(action_id=ACTION_MORE, options=choices),
        )

    def _title(
        self, alert: AlertView, kind: NotificationKind, rendered: RenderedAlert, tr: Translator
    ) -> str:
        severity = tr.gettext(alert.severity.value.upper())
        base = f"{severity} {rendered.title}"
        if kind is NotificationKind.ACKNOWLEDGED and not alert.acknowledged_by:
            return f":eyes: {tr.gettext('Acknowledged')}: {base}"
        if kind is NotificationKind.ACKNOWLEDGED:
            who = alert.acknowledged_by
            return f":eyes: {tr.gettext('Acknowledged by %(who)s', who=who)}: {base}"
        if kind is NotificationKind.RESOLVED:
            return f":white_check_mark: {tr.gettext('Resolved')}: {base}"
        if kind is NotificationKind.ESCALATED:
            return f":rotating_light: {base}"
        return f"{SEVERITY_EMOJI[alert.severity]} {base}"

    def _fields(
        self, alert: AlertView, kind: NotificationKind, rendered: RenderedAlert, tr: Translator
    ) -> list[MarkdownTextObject]:
        values: dict[str, tuple[str, str]] = {
            "tenant": (tr.gettext("Tenant"), _escape(alert.tenant_name)),
            "type": (tr.gettext("Type"), _escape(alert.alert_type)),
            "count": (tr.gettext("Count"), tr.number(alert.count)),
            "first_seen": (tr.gettext("First seen"), tr.datetime(alert.first_seen_at)),
            "last_seen": (tr.gettext("Last seen"), tr.datetime(alert.last_seen_at)),
        }
        # A field without a value is left out, never shown with a placeholder.
        if alert.environment:
            values["environment"] = (tr.gettext("Environment"), _escape(alert.environment))
        if alert.source:
            values["source"] = (tr.gettext("Source"), _escape(alert.source))
        pairs: list[tuple[str, str]] = []
        for key in rendered.fields:
            if key == "labels":
                labels = sorted(alert.labels.items())
                if labels:
                    pairs.append((tr.gettext("Labels"), _label_lines(labels, tr)))
            elif key.startswith("label:"):
                name = key.removeprefix("label:")
                if name in alert.labels:
                    pairs.append((_escape(name), _escape(alert.labels[name])))
            elif key in values:
                pairs.append(values[key])
        if alert.incident_number:
            # First, so that the field limit never drops it: it is what responders look up.
            pairs.insert(0, (tr.gettext("ServiceNow incident"), _escape(alert.incident_number)))
        if kind is NotificationKind.RESOLVED and alert.resolved_at is not None:
            pairs.append(
                (tr.gettext("Resolved after"), tr.duration(alert.resolved_at - alert.first_seen_at))
            )
        return [
            MarkdownTextObject(text=truncate(f"*{name}*\n{value}", MAX_FIELD_CHARS))
            for name, value in pairs[:MAX_FIELDS]
        ]

    def _links(self, alert: AlertView, tr: Translator) -> str:
        links = []
        for key, label in (
            ("runbook_url", "Runbook"),
            ("dashboard_url", "Dashboard"),
            ("generator_url", "Source"),
        ):
            url = alert.annotations.get(key, "")
            if url.startswith(("https://", "http://")) and not _UNSAFE_IN_URL.search(url):
                links.append(f"<{link_url(url)}|{tr.gettext(label)}>")
        # The alerts behind an anomaly alert: alert_url_1, alert_url_2, ...
        for number in range(1, 10):
            url = alert.annotations.get(f"alert_url_{number}", "")
            if url.startswith(("https://", "http://")) and not _UNSAFE_IN_URL.search(url):
                links.append(f"<{link_url(url)}|{tr.gettext('Alert %(number)s', number=number)}>")
        return "  ·  ".join(links)

    def _context(self, alert: AlertView, tr: Translator) -> str:
        parts = [tr.gettext("alert %(id)s", id=f"`{alert.alert_id}`")]
        if alert.source:
            parts.append(tr.gettext("source %(source)s", source=_escape(alert.source)))
        parts.append(tr.datetime(alert.last_seen_at))
        return truncate(" · ".join(parts), MAX_SECTION_CHARS)

    def _colour(self, alert: AlertView, kind: NotificationKind) -> str:
        if kind is NotificationKind.RESOLVED:
            return RESOLVED_COLOUR
        if kind is NotificationKind.ACKNOWLEDGED:
            return ACKNOWLEDGED_COLOUR
        return SEVERITY_COLOUR[alert.severity]


def _mention(mention: str | None) -> str | None:
    """A route's mention goes out unescaped, so only Slack's mention syntax may pass."""
    if not mention:
        return None
    return mention if MENTION_RE.match(mention) else _escape(mention)


def _section(text: str, *, tr: Translator | None = None) -> SectionBlock:
    marker = "… " + (tr or translator(FALLBACK_LOCALE)).gettext("(message truncated)")
    return SectionBlock(
        text=MarkdownTextObject(text=truncate(text, MAX_SECTION_CHARS, marker=marker))
    )


def _label_lines(labels: list[tuple[str, str]], tr: Translator) -> str:
    """As many labels as fit one field, then a visible count of the rest."""
    budget = MAX_FIELD_CHARS - len("*Labels*\n") - len("\n… 9999 more labels")
    lines: list[str] = []
    used = 0
    for key, value in labels[:SHOWN_LABELS]:
        line = f"`{truncate(_escape(key), 60)}`={truncate(_escape(value), MAX_LABEL_SHOWN_CHARS)}"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
    rest = len(labels) - len(lines)
    if rest:
        lines.append(tr.gettext("… %(count)s more labels", count=tr.number(rest)))
    return "\n".join(lines)
