"""A group's digest as Block Kit: how many alerts, which ones (worst first), what changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from alerting.domain.views import DigestMember, DigestView
from alerting.i18n import Translator, translator
from alerting.slack.formatter import (
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    MAX_TEXT_CHARS,
    RESOLVED_COLOUR,
    SEVERITY_COLOUR,
    SEVERITY_EMOJI,
    escape_mrkdwn,
    truncate,
)

_escape = escape_mrkdwn

#: Members listed in a digest before "… and N more".
LISTED_MEMBERS = 10
#: Members named in a digest's thread reply.
NAMED_NEW_MEMBERS = 5
#: Characters of an alert's message shown on its line.
MEMBER_MESSAGE_CHARS = 120
#: Labels shown on a member's line.
MEMBER_LABELS = 3

_STATUS_EMOJI = {"acknowledged": ":eyes:", "resolved": ":white_check_mark:"}


def group_name(view: DigestView) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in view.group_labels.items() if v)
    return labels or view.route


def format_digest(
    view: DigestView, *, locales: tuple[str, ...] = ("en",), mention: str | None = None
) -> dict[str, Any]:
    tr = translator(locales[0])
    title = _title(view, tr)
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=truncate(title, MAX_HEADER_CHARS)))]
    if mention and view.firing:
        # Written by the operator in the route: it must notify, so it is not escaped.
        blocks.append(_section(mention))
    blocks.append(_section(_counts(view, tr)))
    blocks.append(_section(_member_lines(view, tr)))
    for other in locales[1:]:
        other_tr = translator(other)
        blocks.append(DividerBlock())
        blocks.append(_section(f"*{_escape(_title(view, other_tr))}*\n{_counts(view, other_tr)}"))
    blocks.append(DividerBlock())
    moment = view.updated_at or datetime.now(UTC)
    context = " · ".join(
        [
            tr.gettext("group %(name)s", name=f"`{_escape(group_name(view))}`"),
            tr.gettext("update %(number)s", number=tr.number(view.digest)),
            tr.datetime(moment),
        ]
    )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    worst = view.worst
    colour = SEVERITY_COLOUR[worst] if worst is not None else RESOLVED_COLOUR
    return {
        "text": truncate(f"{title} — {_counts(view, tr)}", MAX_TEXT_CHARS),
        "blocks": [b.to_dict() for b in blocks],
        "attachments": [{"color": colour, "fallback": truncate(title, MAX_HEADER_CHARS)}],
    }


def digest_reply(view: DigestView, locale: str = "en") -> str:
    """The thread line of a digest after the first: what is new, what resolved."""
    tr = translator(locale)
    parts: list[str] = []
    if view.new_count:
        names = ", ".join(_member_name(m) for m in view.new_members[:NAMED_NEW_MEMBERS])
        rest = view.new_count - min(len(view.new_members), NAMED_NEW_MEMBERS)
        if rest > 0:
            names += " " + tr.gettext("… and %(count)s more", count=tr.number(rest))
        parts.append(
            ":new: "
            + tr.gettext(
                "%(count)s new in this group: %(names)s",
                count=tr.number(view.new_count),
                names=names,
            )
        )
    resolved = [m for m in view.changed_members if m.status == "resolved"]
    acknowledged = [m for m in view.changed_members if m.status == "acknowledged"]
    if view.resolved_since:
        parts.append(
            ":white_check_mark: "
            + tr.gettext(
                "%(count)s resolved since the last update", count=tr.number(view.resolved_since)
            )
            + _named(resolved)
        )
    if view.acknowledged_since:
        parts.append(
            ":eyes: "
            + tr.gettext(
                "%(count)s acknowledged since the last update",
                count=tr.number(view.acknowledged_since),
            )
            + _named(acknowledged)
        )
    if not parts:
        parts.append(
            ":repeat: "
            + tr.gettext(
                "Reminder: %(count)s still firing",
                count=tr.number(view.firing + view.acknowledged),
            )
        )
    return truncate("\n".join(parts), MAX_SECTION_CHARS)


def _named(members: list[DigestMember]) -> str:
    return (
        (": " + ", ".join(_member_name(m) for m in members[:NAMED_NEW_MEMBERS])) if members else ""
    )


def _title(view: DigestView, tr: Translator) -> str:
    name = group_name(view)
    open_count = view.firing + view.acknowledged
    if open_count:
        emoji = SEVERITY_EMOJI[view.worst] + " " if view.worst is not None else ""
        return emoji + tr.gettext(
            "%(count)s alerts firing: %(group)s", count=tr.number(open_count), group=name
        )
    return ":white_check_mark: " + tr.gettext(
        "All %(count)s alerts resolved: %(group)s", count=tr.number(view.total), group=name
    )


def _counts(view: DigestView, tr: Translator) -> str:
    counts = tr.gettext(
        "%(firing)s firing · %(acknowledged)s acknowledged · %(resolved)s resolved",
        firing=tr.number(view.firing),
        acknowledged=tr.number(view.acknowledged),
        resolved=tr.number(view.resolved),
    )
    occurrences = tr.gettext("%(count)s occurrences", count=tr.number(view.occurrences))
    severities = " ".join(
        f"{SEVERITY_EMOJI[severity]} {tr.number(count)}" for severity, count in view.by_severity
    )
    return f"{counts} · {occurrences}" + (f" · {severities}" if severities else "")


def _member_name(member: DigestMember) -> str:
    labels = " ".join(
        f"`{_escape(truncate(k, 40))}={_escape(truncate(v, 60))}`"
        for k, v in list(member.labels.items())[:MEMBER_LABELS]
    )
    ident = f" `{member.alert_id}`" if member.alert_id else ""
    return f"*{_escape(member.alert_type)}*" + (f" {labels}" if labels else "") + ident


def _member_lines(view: DigestView, tr: Translator) -> str:
    lines = []
    budget = MAX_SECTION_CHARS - 60
    used = 0
    listed = 0
    for member in view.members[:LISTED_MEMBERS]:
        emoji = _STATUS_EMOJI.get(member.status, SEVERITY_EMOJI[member.severity])
        count = f" ×{tr.number(member.count)}" if member.count > 1 else ""  # noqa: RUF001
        message = _escape(truncate(member.message, MEMBER_MESSAGE_CHARS))
        line = f"{emoji} {_member_name(member)}{count} — {message}"
        if used + len(line) + 1 > budget:
            break
        lines.append(line)
        used += len(line) + 1
        listed += 1
    rest = view.more + len(view.members) - listed
    if rest > 0:
        lines.append(tr.gettext("… and %(count)s more", count=tr.number(rest)))
    return "\n".join(lines) or "—"


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, MAX_SECTION_CHARS)))
