"""Muting rules: maintenance windows (one-off, weekly across DST changes), inhibition rules and
silence specs, refused with the key path and the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.matchers import alert_facts
from alerting.domain.muting import InhibitRule, MaintenanceWindow, SilenceSpec, active_window
from alerting.domain.tenants import parse_tenant

BASE: dict[str, Any] = {"tenant_id": "t", "name": "T", "slack_config": {"default_channel": "#a"}}


def problems(**extra: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_tenant({**BASE, **extra}, where="t.yaml")
    return dict(caught.value.problems)


def facts(environment: str = "prod", **labels: str) -> dict[str, str]:
    return alert_facts(
        alert_type="disk_full", severity="warning", environment=environment, labels=labels
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_weekly_window_opens_at_local_time_on_both_sides_of_a_dst_change() -> None:
    # Sundays 01:30 for 3 hours, Paris time. Clocks went forward on 2025-03-30 at 02:00 and
    # back on 2025-10-26 at 03:00.
    window = MaintenanceWindow.model_validate(
        {
            "name": "sunday",
            "environments": ["prod"],
            "timezone": "Europe/Paris",
            "recurrence": {"days": ["sun"], "start": "01:30", "duration": "3h"},
        }
    )
    # Winter (UTC+1): 00:30-03:30 UTC.
    assert window.active(utc(2025, 3, 23, 0, 30))
    assert not window.active(utc(2025, 3, 23, 0, 29))
    assert not window.active(utc(2025, 3, 23, 3, 30))
    # The day of the change: opens 01:30 CET (00:30 UTC), lasts 3 elapsed hours.
    assert window.active(utc(2025, 3, 30, 0, 30))
    assert window.active(utc(2025, 3, 30, 3, 29))
    assert not window.active(utc(2025, 3, 30, 3, 30))
    # Summer (UTC+2): 01:30 local is 23:30 UTC the evening before.
    assert window.active(utc(2025, 4, 5, 23, 30))
    assert not window.active(utc(2025, 4, 5, 23, 29))
    assert not window.active(utc(2025, 4, 6, 2, 30))
    # Back to winter time: opens 01:30 CEST (23:30 UTC Saturday).
    assert window.active(utc(2025, 10, 25, 23, 30))
    assert not window.active(utc(2025, 10, 26, 2, 30))
    # Another weekday: never.
    assert not window.active(utc(2025, 3, 24, 1, 0))


def test_window_spanning_midnight_and_several_days() -> None:
    window = MaintenanceWindow.model_validate(
        {
            "name": "long",
            "matchers": ["alertname=disk_*"],
            "timezone": "America/New_York",
            "recurrence": {"days": ["fri"], "start": "22:00", "duration": "2d"},
        }
    )
    # Friday 2025-07-04 22:00 EDT is Saturday 02:00 UTC; two days later is Monday 02:00 UTC.
    assert window.active(utc(2025, 7, 5, 2, 0))
    assert window.active(utc(2025, 7, 7, 1, 59))
    assert not window.active(utc(2025, 7, 7, 2, 0))


def test_one_off_window_and_selection() -> None:
    window = MaintenanceWindow.model_validate(
        {
            "name": "migration",
            "environments": ["staging"],
            "matchers": ["team=db"],
            "timezone": "Europe/Berlin",
            "start": "2030-01-10T22:00:00",
            "end": "2030-01-11T02:00:00",
        }
    )
    at = utc(2030, 1, 10, 21, 30)  # 22:30 in Berlin
    assert window.active(at) and not window.active(utc(2030, 1, 11, 1, 0))
    assert active_window([window], facts("staging", team="db"), at) is window
    assert active_window([window], facts("staging", team="web"), at) is None
    assert active_window([window], facts("prod", team="db"), at) is None


def test_invalid_windows_name_the_key_path() -> None:
    found = problems(
        maintenance_windows=[
            {"name": "a", "environments": ["prod"], "timezone": "Mars/Olympus", "start": "x"},
            {"name": "b", "environments": ["prod"]},
            {
                "name": "c",
                "environments": ["prod"],
                "recurrence": {"days": ["funday"], "start": "25:00", "duration": "0s"},
            },
            {"name": "d", "start": "2030-01-02T00:00:00", "end": "2030-01-01T00:00:00"},
        ]
    )
    assert "not an IANA time zone" in found["maintenance_windows.0.timezone"]
    assert "maintenance_windows.0.start" in found
    assert "start and end, or a recurrence" in found["maintenance_windows.1"]
    assert "maintenance_windows.2.recurrence.days.0" in found
    assert "maintenance_windows.2.recurrence.start" in found
    assert "more than 0" in found["maintenance_windows.2.recurrence.duration"]
    assert "end: must be after start" in found["maintenance_windows.3"]
    same = problems(
        maintenance_windows=[
            {"name": "x", "environments": ["a"], "recurrence": _rec()},
            {"name": "x", "environments": ["b"], "recurrence": _rec()},
        ]
    )
    assert "two windows are named 'x'" in same["maintenance_windows"]


def _rec() -> dict[str, Any]:
    return {"days": ["mon"], "start": "10:00", "duration": "1h"}


def test_invalid_inhibit_rules_name_the_key_path() -> None:
    found = problems(
        inhibit_rules=[
            {"source_matchers": [], "target_matchers": ["a=~("], "equal": ["bad label"]},
            {"source_matchers": ["a=b"], "target_matchers": ["c=d"], "equals": ["x"]},
        ]
    )
    assert "inhibit_rules.0.source_matchers" in found
    assert "bad regular expression" in found["inhibit_rules.0.target_matchers.0"]
    assert "not a label name" in found["inhibit_rules.0.equal"]
    assert found["inhibit_rules.1.equals"] == "unknown field"


def test_inhibit_rule_query_shape() -> None:
    rule = InhibitRule.model_validate(
        {
            "source_matchers": ["alertname=cluster_down", "tier=infra"],
            "target_matchers": ["alertname=node_*"],
            "equal": ["cluster", "environment"],
        }
    )
    target = facts(cluster="eu-1")
    assert rule.targets(
        alert_facts(alert_type="node_cpu", severity="warning", environment=None, labels={})
    )
    assert rule.source_query(target, {"cluster": "eu-1"}) == (
        {"cluster": "eu-1", "tier": "infra"},
        [("environment", "prod"), ("alert_type", "cluster_down")],
    )
    # A target without an `equal` label is never inhibited by this rule.
    assert rule.source_query(target, {}) is None


def test_silence_spec_errors_name_the_field() -> None:
    def errors(**data: Any) -> str:
        with pytest.raises(ValueError) as caught:
            SilenceSpec.model_validate({"created_by": "me", **data})
        return str(caught.value)

    assert "matchers" in errors(matchers=[], duration="1h")
    assert "bad regular expression" in errors(matchers=["a=~("], duration="1h")
    assert "more than 0" in errors(matchers=["a=b"], duration="0s")
    assert "exactly one" in errors(matchers=["a=b"])
    now = datetime.now(UTC)
    spec = SilenceSpec.model_validate(
        {
            "created_by": "me",
            "matchers": ["a=b"],
            "starts_at": now.isoformat(),
            "ends_at": (now - timedelta(hours=1)).isoformat(),
        }
    )
    with pytest.raises(ValueError, match="ends_at: must be after starts_at"):
        spec.range(now)
    start, end = SilenceSpec.model_validate(
        {"created_by": "me", "matchers": ["a=b"], "duration": "2h"}
    ).range(now)
    assert (start, end - start) == (now, timedelta(hours=2))
