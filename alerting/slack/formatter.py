"""SlackAlertFormatter: an alert as Block Kit, always within Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from alerting.domain.events import Severity
from alerting.domain.views import AlertView, MessageOptions, NotificationKind

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


def escape_mrkdwn(text: str, *, allow_mentions: bool = False) -> str:
    """Slack's three control characters; mentions survive only when the tenant allows them."""
    if allow_mentions:
        parts = _MENTION_RE.split(text)
        # split() keeps captured groups at odd indexes: those are the mentions.
        return "".join(f"<{part}>" if i % 2 else _escape(part) for i, part in enumerate(parts))
    return _escape(text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, *, marker: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


class SlackAlertFormatter:
    """Builds the Slack payload of one notification (blocks, colour bar and fallback text)."""

    def format(
        self, alert: AlertView, kind: NotificationKind, options: MessageOptions | None = None
    ) -> dict[str, Any]:
        options = options or MessageOptions()
        title = self._title(alert, kind)
        blocks: list[Any] = [
            HeaderBlock(text=PlainTextObject(text=truncate(title, MAX_HEADER_CHARS)))
        ]
        for note in options.notes:
            blocks.append(
                SectionBlock(
                    text=MarkdownTextObject(text=truncate(_escape(note), MAX_SECTION_CHARS))
                )
            )
        # Slack refuses an empty section text; stored alerts always have one, but stay safe.
        message = escape_mrkdwn(alert.message, allow_mentions=options.allow_mentions)
        if not message.strip():
            message = "(no message)"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=truncate(message, MAX_SECTION_CHARS, marker="… (message truncated)")
                )
            )
        )
        blocks.append(SectionBlock(fields=self._fields(alert, kind)))
        links = self._links(alert)
        if links:
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=truncate(links, MAX_SECTION_CHARS)))
            )
        if options.interactive and alert.status != "resolved":
            blocks.append(self._buttons(alert))
        blocks.append(DividerBlock())
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=self._context(alert))]))
        colour = self._colour(alert, kind)
        text = truncate(f"{title}: {_escape(alert.message)}", MAX_TEXT_CHARS)
        return {
            "text": text,
            "blocks": [b.to_dict() for b in blocks[:MAX_BLOCKS]],
            "attachments": [{"color": colour, "fallback": truncate(title, MAX_HEADER_CHARS)}],
        }

    def thread_reply(self, alert: AlertView, kind: NotificationKind) -> str:
        """The line a follow-up adds to the alert's thread (Web API mode)."""
        if kind is NotificationKind.ACKNOWLEDGED:
            return f":eyes: Acknowledged by {_escape(alert.acknowledged_by or 'someone')}"
        if kind is NotificationKind.RESOLVED:
            after = ""
            if alert.resolved_at is not None:
                after = f" after {_duration(alert.resolved_at - alert.first_seen_at)}"
            return (
                f":white_check_mark: Resolved by {_escape(alert.resolved_by or 'someone')}{after}"
            )
        return f":repeat: Fired again: {alert.count} times since {_when(alert.first_seen_at)}"

    def _buttons(self, alert: AlertView) -> ActionsBlock:
        buttons = []
        if alert.status == "firing":
            buttons.append(
                ButtonElement(
                    text="Acknowledge", action_id=ACTION_ACK, value=alert.alert_id, style="primary"
                )
            )
        buttons.append(
            ButtonElement(text="Resolve", action_id=ACTION_RESOLVE, value=alert.alert_id)
        )
        buttons.append(
            ButtonElement(text="Silence 1h", action_id=ACTION_SILENCE_1H, value=alert.alert_id)
        )
        return ActionsBlock(block_id=f"alert:{alert.alert_id}", elements=buttons)

    def _title(self, alert: AlertView, kind: NotificationKind) -> str:
        emoji = SEVERITY_EMOJI[alert.severity]
        base = f"{alert.severity.value.upper()} {alert.alert_type}"
        if alert.environment:
            base += f" ({alert.environment})"
        if kind is NotificationKind.ACKNOWLEDGED:
            return f":eyes: Acknowledged by {alert.acknowledged_by}: {base}"
        if kind is NotificationKind.RESOLVED:
            return f":white_check_mark: Resolved: {base}"
        return f"{emoji} {base}"

    def _fields(self, alert: AlertView, kind: NotificationKind) -> list[MarkdownTextObject]:
        pairs: list[tuple[str, str]] = [
            ("Tenant", alert.tenant_name),
            ("Environment", alert.environment or "—"),
            ("Type", alert.alert_type),
            ("Count", str(alert.count)),
            ("First seen", _when(alert.first_seen_at)),
            ("Last seen", _when(alert.last_seen_at)),
        ]
        if kind is NotificationKind.RESOLVED and alert.resolved_at is not None:
            pairs.append(("Resolved after", _duration(alert.resolved_at - alert.first_seen_at)))
        labels = sorted(alert.labels.items())
        if labels and len(pairs) < MAX_FIELDS:
            pairs.append(("Labels", _label_lines(labels)))
        return [
            MarkdownTextObject(
                text=truncate(
                    f"*{name}*\n{_escape(value) if name != 'Labels' else value}", MAX_FIELD_CHARS
                )
            )
            for name, value in pairs[:MAX_FIELDS]
        ]

    def _links(self, alert: AlertView) -> str:
        links = []
        for key, label in (
            ("runbook_url", "Runbook"),
            ("dashboard_url", "Dashboard"),
            ("generator_url", "Source"),
        ):
            url = alert.annotations.get(key, "")
            if url.startswith(("https://", "http://")) and "|" not in url and ">" not in url:
                links.append(f"<{url}|{label}>")
        return "  ·  ".join(links)

    def _context(self, alert: AlertView) -> str:
        parts = [f"alert `{alert.alert_id}`"]
        if alert.source:
            parts.append(f"source {_escape(alert.source)}")
        parts.append(_when(alert.last_seen_at))
        return truncate(" · ".join(parts), MAX_SECTION_CHARS)

    def _colour(self, alert: AlertView, kind: NotificationKind) -> str:
        if kind is NotificationKind.RESOLVED:
            return RESOLVED_COLOUR
        if kind is NotificationKind.ACKNOWLEDGED:
            return ACKNOWLEDGED_COLOUR
        return SEVERITY_COLOUR[alert.severity]


def _label_lines(labels: list[tuple[str, str]]) -> str:
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
        lines.append(f"… {rest} more labels")
    return "\n".join(lines)


def _when(moment: Any) -> str:
    return str(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _duration(delta: Any) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
