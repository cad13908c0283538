"""Whatever the alert, the payload is one Slack accepts (checked with slack_sdk's models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from alerting.domain.events import (
    DEFAULT_MAX_MESSAGE_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    Severity,
)
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.slack.formatter import (
    MAX_BLOCKS,
    MAX_FIELD_CHARS,
    MAX_FIELDS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
    MAX_TEXT_CHARS,
    SlackAlertFormatter,
    escape_mrkdwn,
)
from alerting.slack.sandbox import validate_blocks

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
nasty = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        ["<!channel>", "<@U123>", "&<>", "{{ 7*7 }}", "مرحبا بالعالم", "🔥" * 50, "*_~`"]
    ),
)


def view(message: str, labels: dict[str, str], severity: Severity, **extra: object) -> AlertView:
    return AlertView(
        alert_id="00000000-0000-0000-0000-000000000001",
        tenant_id="t",
        tenant_name="Tenant",
        alert_type="high_cpu",
        severity=severity,
        message=message,
        status="firing",
        environment="production",
        labels=labels,
        annotations={"runbook_url": "https://r/x"},
        source="test",
        count=3,
        first_seen_at=NOW - timedelta(minutes=5),
        last_seen_at=NOW,
        acknowledged_by="alice",
        resolved_at=NOW,
        **extra,  # type: ignore[arg-type]
    )


def check(payload: dict) -> None:  # type: ignore[type-arg]
    blocks = payload["blocks"]
    assert payload["text"] and len(payload["text"]) <= MAX_TEXT_CHARS
    assert 0 < len(blocks) <= MAX_BLOCKS
    assert validate_blocks(blocks) is None, validate_blocks(blocks)
    for raw in blocks:
        Block.parse(raw).validate_json()  # type: ignore[union-attr]
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= MAX_HEADER_CHARS
        if raw["type"] == "section":
            if "text" in raw:
                assert len(raw["text"]["text"]) <= MAX_SECTION_CHARS
            fields = raw.get("fields", [])
            assert len(fields) <= MAX_FIELDS
            assert all(len(f["text"]) <= MAX_FIELD_CHARS for f in fields)


@settings(max_examples=150, deadline=None)
@given(
    message=st.one_of(nasty, st.text(min_size=1, max_size=DEFAULT_MAX_MESSAGE_CHARS)),
    labels=st.dictionaries(
        st.text(min_size=1, max_size=128),
        st.text(max_size=MAX_LABEL_VALUE_CHARS),
        max_size=MAX_LABELS,
    ),
    severity=st.sampled_from(list(Severity)),
    kind=st.sampled_from(list(NotificationKind)),
    allow=st.booleans(),
    interactive=st.booleans(),
)
def test_every_payload_is_valid(
    message: str,
    labels: dict[str, str],
    severity: Severity,
    kind: NotificationKind,
    allow: bool,
    interactive: bool,
) -> None:
    check(
        SlackAlertFormatter().format(
            view(message, labels, severity),
            kind,
            MessageOptions(allow_mentions=allow, interactive=interactive),
        )
    )


def test_largest_accepted_alert_is_truncated_visibly() -> None:
    labels = {f"label_{i:02}": "v" * MAX_LABEL_VALUE_CHARS for i in range(MAX_LABELS)}
    payload = SlackAlertFormatter().format(
        view("x" * DEFAULT_MAX_MESSAGE_CHARS, labels, Severity.CRITICAL), NotificationKind.FIRING
    )
    check(payload)
    flat = str(payload["blocks"])
    assert "(message truncated)" in flat
    assert "more labels" in flat


def test_mentions_are_escaped_unless_allowed() -> None:
    assert escape_mrkdwn("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert (
        escape_mrkdwn("<!channel> & <@U123> <b>", allow_mentions=True)
        == "<!channel> &amp; <@U123> &lt;b&gt;"
    )
    payload = SlackAlertFormatter().format(
        view("<!channel> {{ 7*7 }}", {}, Severity.INFO), NotificationKind.FIRING
    )
    assert "&lt;!channel&gt; {{ 7*7 }}" in str(payload["blocks"])
    assert "<!channel>" not in payload["text"]


def test_the_on_call_person_is_mentioned_and_nothing_else() -> None:
    """Production critical: the template names who is on call, as a real mention; the same
    markup in the alert's text (or another mention) stays escaped."""
    alert = view(
        "cpu melting, ping <@U0AAA> and <!channel>",
        {"host": "web-1"},
        Severity.CRITICAL,
        oncall="<@U0AAA>",
    )
    options = MessageOptions(
        notes=("Attention: <@U0AAA> <!here>",), mentions=frozenset({"<@U0AAA>"})
    )
    blocks = [
        str(b)
        for b in SlackAlertFormatter().format(alert, NotificationKind.FIRING, options)["blocks"]
    ]
    note = next(b for b in blocks if "Production incident" in b)
    assert "page <@U0AAA> (on call)" in note
    assert any("Attention: <@U0AAA> &lt;!here&gt;" in b for b in blocks)
    summary = next(b for b in blocks if "cpu melting" in b)
    assert "&lt;@U0AAA&gt;" in summary and "&lt;!channel&gt;" in summary
    nobody = SlackAlertFormatter().format(
        view("m", {"host": "web-1"}, Severity.CRITICAL), NotificationKind.FIRING
    )
    assert "page the on-call" in str(nobody["blocks"])
