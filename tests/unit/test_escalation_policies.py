"""Escalation policies in tenant files: refused with the key path and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.escalation import EscalationPolicy, Step, after_notify, decide
from alerting.domain.tenants import parse_tenant

BASE: dict[str, Any] = {
    "tenant_id": "t",
    "name": "T",
    "slack_config": {"default_channel": "#a"},
}


def problems(
    policies: dict[str, Any], severity_policies: dict[str, str] | None = None
) -> dict[str, str]:
    data = {**BASE, "escalation_policies": policies, "severity_policies": severity_policies or {}}
    with pytest.raises(InvalidInput) as caught:
        parse_tenant(data, where="t.yaml")
    return dict(caught.value.problems)


def test_invalid_policies_name_the_key_path() -> None:
    found = problems({"p": {"levels": [{"delay": -1, "channels": ["#a"]}]}})
    assert "escalation_policies.p.levels.0.delay" in found
    found = problems({"p": {"levels": [{"delay": 1, "channels": ["#a"], "chanels": 1}]}})
    assert found["escalation_policies.p.levels.0.chanels"] == "unknown field"
    found = problems({"p": {"levels": [{"delay": 1}]}})
    assert "at least one channel" in found["escalation_policies.p.levels.0"]
    found = problems(
        {"p": {"levels": [{"delay": 900, "channels": ["#a"]}, {"delay": 300, "channels": ["#b"]}]}}
    )
    assert "must not decrease" in found["escalation_policies.p.levels"]
    found = problems({}, {"critical": "missing"})
    assert "no escalation policy named 'missing'" in next(iter(found.values()))


def test_the_seed_policy_and_its_timeline() -> None:
    policy = EscalationPolicy.model_validate(
        {
            "levels": [
                {"delay": 300, "channels": ["#dev-team"]},
                {
                    "delay": 900,
                    "channels": ["#ops-team", "#management"],
                    "mention": "oncall:primary",
                },
            ],
            "repeat": 1,
            "ack_timeout": 1800,
        }
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert after_notify(policy, level=0, repeats_done=0, started_at=start, now=start) == (
        1,
        0,
        start + timedelta(seconds=900),
    )
    later = start + timedelta(seconds=900)
    assert after_notify(policy, level=1, repeats_done=0, started_at=start, now=later) == (
        1,
        1,
        later + timedelta(seconds=600),
    )
    assert after_notify(policy, level=1, repeats_done=1, started_at=start, now=later)[2] is None
    assert decide(policy, status="resolved", acknowledged_at=None, now=later).step is Step.DONE
    acked = decide(policy, status="acknowledged", acknowledged_at=start, now=later)
    assert acked.step is Step.WAIT and acked.next_at == start + timedelta(seconds=1800)
    assert (
        decide(
            policy, status="acknowledged", acknowledged_at=start, now=start + timedelta(hours=1)
        ).step
        is Step.RESTART
    )
