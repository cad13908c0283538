"""Pure parts of ChatOps: the command's words, who may act, the guard's depth check, and the
sandbox's mrkdwn."""

from __future__ import annotations

import pytest

from alerting.chatops.commands import CommandError, Verb, parse_command
from alerting.chatops.permissions import ChatopsConfig, Permission, decide
from alerting.slack.sandbox.mrkdwn import to_html
from alerting.web.slack_guard import json_depth


def test_commands_parse_to_what_they_say() -> None:
    assert parse_command("").verb is Verb.HELP
    listed = parse_command('list firing service=db team=~"a|b"')
    assert listed.status == "firing" and [str(m) for m in listed.matchers] == [
        'service="db"',
        'team=~"a|b"',
    ]
    assert parse_command("ACK 3F2A9C1E").target == "3f2a9c1e"
    resolved = parse_command("resolve 3f2a9c1e rotated the logs")
    assert resolved.text == "rotated the logs"
    silence = parse_command("silence service=db env=prod 1h30m disk swap tonight")
    assert silence.duration == 5400 and silence.text == "disk swap tonight"
    assert len(silence.matchers) == 2
    assert parse_command("oncall primary").schedule == "primary"


@pytest.mark.parametrize(
    ("text", "reason", "usage"),
    [
        ("nope", "Unknown command %(word)s.", "help"),
        ("ack", "Give exactly one ID.", "ack ID"),
        ("ack 1 2", "Give exactly one ID.", "ack ID"),
        ("show x!", "%(word)s is not an ID", "show ID"),
        ("silence 15m why", "Give at least one matcher before the duration.", "silence"),
        ("silence a=b", "Give a duration (15m, 2h, 1h30m) after the matchers.", "silence"),
        ("silence a=b 0s why", "The duration must be between 1s and 30d.", "silence"),
        ("silence a=b 31d why", "The duration must be between 1s and 30d.", "silence"),
        ("list =b", "%(word)s is not a matcher", "list"),
        ('list "open', "A quote is not closed.", "help"),
        ("help me", "Too many words.", "help"),
        ("x" * 3000, "The text is too long", "help"),
    ],
)
def test_mistakes_say_what_is_wrong_and_the_right_form(text: str, reason: str, usage: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(text)
    assert caught.value.reason.startswith(reason) and caught.value.usage.startswith(usage)


def test_permissions_by_user_or_group_and_open_by_default() -> None:
    config = ChatopsConfig.model_validate(
        {"permissions": {"escalate": {"users": ["U0LEAD"], "groups": ["S0SRE"]}}}
    )
    assert decide(config, Permission.ACK, "U0ANY").allowed
    assert decide(config, Permission.ESCALATE, "U0LEAD").allowed
    assert decide(config, Permission.ESCALATE, "U0ANY", {"S0SRE"}).allowed
    refused = decide(config, Permission.ESCALATE, "U0ANY", {"S0OTHER"})
    assert not refused.allowed and refused.rule is not None and refused.rule.groups == ["S0SRE"]
    with pytest.raises(ValueError, match="command"):
        ChatopsConfig.model_validate({"command": "alerts"})
    with pytest.raises(ValueError, match="permissions"):
        ChatopsConfig.model_validate({"permissions": {"deploy": {}}})


def test_json_depth_is_counted_without_recursion() -> None:
    assert json_depth('{"a": [1, {"b": "[[[["}]}') == 3
    assert json_depth("[" * 100_000 + "]" * 100_000) == 100_000
    assert json_depth('"\\"[["') == 0


def test_mrkdwn_renders_as_slack_shows_it() -> None:
    html = to_html(
        "*bold* _it_ ~gone~ `x<y` <https://e.x/?a=1&amp;b=2|the link> <@U1> "
        "<#C1|ops> <!subteam^S1|@sre> <!here> :red_circle: &lt;script&gt; a*b*c"
    )
    assert "<b>bold</b>" in html and "<i>it</i>" in html and "<s>gone</s>" in html
    assert "<code>x&lt;y</code>" in html
    assert '<a href="https://e.x/?a=1&amp;b=2"' in html and ">the link</a>" in html
    assert "@U1" in html and "#ops" in html and "@sre" in html and "@here" in html
    assert "\U0001f534" in html and ":red_circle:" not in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "a*b*c" in html  # emphasis only at word boundaries, as in Slack
    assert to_html("<javascript:alert(1)>") == "&lt;javascript:alert(1)&gt;"
