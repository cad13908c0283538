"""What an edge accepts can be stored: text, times, tenant files and quotas, Slack links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.events import validate_event
from alerting.domain.tenants import parse_tenant
from alerting.pipeline.silences import parse_spec
from alerting.slack.formatter import link_url

BASE: dict[str, Any] = {
    "tenant_id": "tenant-a",
    "alert_type": "disk_full",
    "severity": "warning",
    "message": "disk at 95%",
}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_event({**BASE, **data})
    return dict(caught.value.problems)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"message": "a\x00b"}, "message", "NUL character (U+0000) at position 1"),
        ({"message": "ok \ud800"}, "message", "lone surrogate (U+D800) at position 3"),
        ({"message": "\x1b[31mred"}, "message", "control character U+001B at position 0"),
        ({"source": "a\x00"}, "source", "NUL"),
        ({"idempotency_key": "k\ud83d"}, "idempotency_key", "lone surrogate"),
        ({"labels": {"team": "db\x00"}}, "labels", "'team': the value contains a NUL"),
        ({"labels": {"te\x00am": "db"}}, "labels", "key 'te\\x00am' contains a NUL"),
        ({"labels": {"team": "db\nops"}}, "labels", "control character U+000A"),
        ({"annotations": {"runbook": "x\ud800"}}, "annotations", "lone surrogate"),
        ({"environment": "prod\n"}, "environment", "must be 1-64 characters"),
        ({"alert_type": "disk\n"}, "alert_type", "must be 1-128 characters"),
    ],
)
def test_unstorable_text_is_refused_naming_the_field(
    change: dict[str, Any], field: str, reason: str
) -> None:
    found = problems(change)
    assert reason in found[field], found


def test_refusals_can_always_be_encoded() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_event({**BASE, "labels": {"\ud800": 1}, "extra\x00": 1})
    text = str(caught.value)
    text.encode("utf-8")
    assert "\x00" not in text and "extra\\x00: unknown field" in text


def test_multi_line_text_keeps_its_lines() -> None:
    event = validate_event(
        {**BASE, "message": "line 1\r\nline 2\tend", "annotations": {"description": "a\nb"}}
    )
    assert event.message == "line 1\r\nline 2\tend"


def test_occurred_at_is_bounded() -> None:
    now = datetime.now(UTC)
    assert "in the future" in problems({"occurred_at": "9999-12-31T23:59:59Z"})["occurred_at"]
    ahead = (now + timedelta(hours=1)).isoformat()
    assert "more than 5 minutes in the future" in problems({"occurred_at": ahead})["occurred_at"]
    assert "before 2000-01-01" in problems({"occurred_at": "1970-01-01T00:00:00Z"})["occurred_at"]
    assert "out of range" in problems({"occurred_at": "0001-01-01T00:00:00+05:00"})["occurred_at"]
    skewed = now + timedelta(minutes=2)
    assert validate_event({**BASE, "occurred_at": skewed}).occurred_at == skewed


def silence_problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(
            {"matchers": ["team=db"], "duration": "1h", "created_by": "me", **data}, where="t"
        )
    return dict(caught.value.problems)


def test_silence_fields_are_storable() -> None:
    assert "NUL" in silence_problems({"comment": "a\x00"})["comment"]
    assert "lone surrogate" in silence_problems({"comment": "a\ud800"})["comment"]
    assert "created_by" in silence_problems({"created_by": "me\x00"})
    assert "created_by" in silence_problems({"created_by": "\ud800"})
    assert "matcher 1 contains a NUL" in silence_problems({"matchers": ["team=\x00"]})["matchers"]
    far = silence_problems({"starts_at": "9999-12-31T23:59:59Z"})
    assert "in the future" in far["starts_at"]


def tenant(**extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "name": "Acme",
        "slack_config": {"default_channel": "#alerts"},
        **extra,
    }


def tenant_problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_tenant(data, where="acme.yaml")
    return dict(caught.value.problems)


def test_tenant_files_refuse_unstorable_text_with_its_path() -> None:
    found = tenant_problems(
        tenant(
            name="Acme\x00", slack_config={"default_channel": "#a", "environments": {"p\x1b": {}}}
        )
    )
    assert "NUL" in found["name"]
    assert "control character U+001B" in found["slack_config.environments.'p\\x1b'"]


def test_quotas_have_defaults_and_are_settable() -> None:
    defaults = parse_tenant(tenant(), where="acme.yaml").quotas
    assert (defaults.silences, defaults.routes, defaults.inhibit_rules) == (1000, 200, 100)
    assert (defaults.events_per_second, defaults.events_burst) == (100, 1000)
    assert defaults.max_body_bytes is None
    own = parse_tenant(tenant(quotas={"silences": 5, "max_body_bytes": 4096}), where="x").quotas
    assert own.silences == 5 and own.max_body_bytes == 4096
    assert "quotas.colour" in tenant_problems(tenant(quotas={"colour": 1}))


def test_routes_and_inhibit_rules_are_counted_against_the_quotas() -> None:
    routes = {"routes": [{"matchers": ["a=b"], "routes": [{"matchers": ["c=d"]}]}]}
    rule = {"source_matchers": ["a=b"], "target_matchers": ["c=d"]}
    found = tenant_problems(
        tenant(quotas={"routes": 1, "inhibit_rules": 1}, route=routes, inhibit_rules=[rule, rule])
    )
    assert found["route.routes"] == "2 routes; quotas.routes allows 1"
    assert found["inhibit_rules"] == "2 rules; quotas.inhibit_rules allows 1"
    parse_tenant(tenant(quotas={"routes": 2}, route=routes), where="acme.yaml")


def test_link_urls_follow_slacks_escaping() -> None:
    assert link_url("https://x/?q=<!here>|a&b") == "https://x/?q=&lt;!here&gt;%7Ca&amp;b"
