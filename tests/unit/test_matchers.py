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
