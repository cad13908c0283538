from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from alerting.domain.matchers import Matcher, MatcherField, Op, alert_facts, matches_all

FACTS = alert_facts(
    alert_type="disk_full",
    severity="critical",
    environment="production",
    labels={"team": "db", "cluster": "eu-1", "severity": "info"},
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team=db", True),
        ('team="db"', True),
        ("team = infra", False),
        ("team!=infra", True),
        ("owner!=x", True),  # absent label is the empty string
        ('owner=""', True),
        ("team=~d.", True),
        ("team=~d", False),  # anchored, as in Alertmanager
        ("team!~db|infra", False),
        ("severity=critical", True),  # the alert's field, not the label of the same name
        ("alert_type=disk_*", True),
        ("alertname=disk_*", True),
        ("alert_type!=high_*", True),
        ("alert_type=~disk_.*", True),
        ("environment=production", True),
    ],
)
def test_matching(text: str, expected: bool) -> None:
    assert Matcher.parse(text).matches(FACTS) is expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [("team", "is not a matcher"), ("=db", "is not a matcher"), ("team=~(", "bad regular")],
)
def test_bad_matchers_say_why(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Matcher.parse(text)


def test_round_trip_through_a_model() -> None:
    class Rule(BaseModel):
        matchers: list[MatcherField]

    rule = Rule.model_validate({"matchers": ["team=~db|infra", 'alertname="disk_*"']})
    assert rule.matchers[1].name == "alert_type"
    assert rule.matchers[0].op is Op.RE
    again = Rule.model_validate(rule.model_dump(mode="json"))
    assert again == rule
    assert matches_all(again.matchers, FACTS)
    with pytest.raises(ValidationError, match=r"matchers\.0"):
        Rule.model_validate({"matchers": ["team=~("]})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (r"v=~(a)\1", "invalid escape sequence"),  # backreferences: not RE2, not Alertmanager
        ("v=~(?=a)a", "invalid perl operator"),  # lookahead
        ("v=~((a{1000}){1000}){1000}", "bad regular expression"),  # a program past the budget
        ("v=~" + "a" * 1001, "longer than 1000 characters"),
        ("v=" + "a" * 1300, "at most 1200 characters"),
    ],
)
def test_patterns_re2_cannot_run_in_linear_time_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Matcher.parse(text)


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    # Backtracking engines need 2**n steps here (minutes for n=32, forever for this input);
    # RE2 reads the value once. The suite's timeout is what fails a backtracking engine.
    pattern = Matcher.parse("v=~(a+)+")
    assert not pattern.matches({"v": "a" * 100_000 + "!"})
    assert pattern.matches({"v": "a" * 100_000})
    assert Matcher.parse("v!~(a|aa)+$").matches({"v": "a" * 100_000 + "!"})


def test_a_tenant_file_with_a_pattern_re2_refuses_names_the_field() -> None:
    from alerting.domain.errors import InvalidInput
    from alerting.domain.tenants import parse_tenant

    data = {
        "tenant_id": "t",
        "name": "T",
        "slack_config": {"default_channel": "#t"},
        "route": {"routes": [{"matchers": ["team=~(?!db).*"], "channels": ["#x"]}]},
        "inhibit_rules": [
            {"source_matchers": [r"a=~(x)\1"], "target_matchers": ["severity=warning"]}
        ],
    }
    with pytest.raises(InvalidInput) as refused:
        parse_tenant(data, where="t.yaml")
    fields = dict(refused.value.problems)
    assert "invalid perl operator" in fields["route.routes.0.matchers.0"]
    assert "invalid escape sequence" in fields["inhibit_rules.0.source_matchers.0"]
