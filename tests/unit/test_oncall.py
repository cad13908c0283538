"""On-call schedules: who is on call, handoffs across DST, overrides, and refused schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner, Result

from alerting.domain.errors import InvalidInput
from alerting.domain.oncall import OncallSchedule, who_is_on_call
from alerting.domain.tenants import parse_tenant

PARIS = ZoneInfo("Europe/Paris")


def schedule(**overrides: Any) -> OncallSchedule:
    data: dict[str, Any] = {
        "users": ["U0AAA", "U0BBB", "U0CCC"],
        "handoff": "daily",
        "handoff_time": "09:00",
        "timezone": "Europe/Paris",
        "start": "2026-03-01",
        **overrides,
    }
    return OncallSchedule.model_validate(data)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def test_daily_rotation_hands_over_at_local_time() -> None:
    rota = schedule()
    shift = who_is_on_call(rota, paris(2026, 3, 1, 12, 0))
    assert shift.user == "U0AAA"
    assert shift.since == paris(2026, 3, 1, 9, 0)
    assert shift.until == paris(2026, 3, 2, 9, 0)
    assert shift.next_user == "U0BBB"
    # Just before the handoff it is still the previous day's person.
    assert who_is_on_call(rota, paris(2026, 3, 2, 8, 59)).user == "U0AAA"
    assert who_is_on_call(rota, paris(2026, 3, 2, 9, 0)).user == "U0BBB"
    assert who_is_on_call(rota, paris(2026, 3, 4, 10, 0)).user == "U0AAA"  # wrapped around


def test_handoff_stays_at_nine_across_dst() -> None:
    """Paris moves to summer time on 2026-03-29: that shift is 23 hours, the handoff 09:00."""
    rota = schedule()
    shift = who_is_on_call(rota, paris(2026, 3, 28, 20, 0))
    assert shift.since == paris(2026, 3, 28, 9, 0)
    assert shift.until == paris(2026, 3, 29, 9, 0)
    assert shift.until is not None and shift.since is not None
    # Same-zone subtraction is wall-clock time in Python: compare instants.
    assert shift.until.astimezone(UTC) - shift.since.astimezone(UTC) == timedelta(hours=23)
    assert shift.until.utcoffset() == timedelta(hours=2)
    after = who_is_on_call(rota, datetime(2026, 3, 29, 7, 0, tzinfo=UTC))  # 09:00 CEST
    assert after.since == paris(2026, 3, 29, 9, 0)
    # Back to winter time on 2026-10-25: a 25-hour shift.
    autumn = who_is_on_call(rota, paris(2026, 10, 24, 12, 0))
    assert autumn.until is not None and autumn.since is not None
    assert autumn.until.astimezone(UTC) - autumn.since.astimezone(UTC) == timedelta(hours=25)


def test_weekly_rotation_and_before_the_start() -> None:
    rota = schedule(handoff="weekly", handoff_day="monday", start="2026-03-02")
    assert who_is_on_call(rota, paris(2026, 3, 1, 12, 0)).user is None
    assert who_is_on_call(rota, paris(2026, 3, 1, 12, 0)).until == paris(2026, 3, 2, 9, 0)
    shift = who_is_on_call(rota, paris(2026, 3, 12, 12, 0))
    assert (shift.user, shift.since, shift.until) == (
        "U0BBB",
        paris(2026, 3, 9, 9, 0),
        paris(2026, 3, 16, 9, 0),
    )


def test_overrides_replace_the_rotation_and_cut_shifts() -> None:
    rota = schedule(
        overrides=[
            {"user": "U0ZZZ", "date": "2026-03-02"},
            {"user": "U0YYY", "start": "2026-03-05T14:00", "end": "2026-03-05T18:00"},
        ]
    )
    day = who_is_on_call(rota, paris(2026, 3, 2, 12, 0))
    assert (day.user, day.since, day.until, day.override) == (
        "U0ZZZ",
        paris(2026, 3, 2, 0, 0),
        paris(2026, 3, 3, 0, 0),
        True,
    )
    # The rotation's person before the override ends where the override starts.
    before = who_is_on_call(rota, paris(2026, 3, 1, 22, 0))
    assert (before.user, before.until, before.next_user) == (
        "U0AAA",
        paris(2026, 3, 2, 0, 0),
        "U0ZZZ",
    )
    # After it, the rotation's person of that day takes over until the next handoff.
    after = who_is_on_call(rota, paris(2026, 3, 3, 1, 0))
    assert (after.user, after.since, after.until) == (
        "U0BBB",
        paris(2026, 3, 3, 0, 0),
        paris(2026, 3, 3, 9, 0),
    )
    cut = who_is_on_call(rota, paris(2026, 3, 5, 12, 0))
    assert (cut.user, cut.until, cut.next_user) == ("U0BBB", paris(2026, 3, 5, 14, 0), "U0YYY")


def test_the_same_person_twice_in_a_row_is_one_shift() -> None:
    rota = schedule(overrides=[{"user": "U0AAA", "date": "2026-03-02"}])
    shift = who_is_on_call(rota, paris(2026, 3, 1, 12, 0))
    assert (shift.since, shift.until, shift.next_user) == (
        paris(2026, 3, 1, 9, 0),
        paris(2026, 3, 3, 0, 0),
        "U0BBB",
    )
    alone = who_is_on_call(schedule(users=["U0AAA"]), paris(2026, 3, 5, 12, 0))
    assert (alone.user, alone.until, alone.next_user) == ("U0AAA", None, None)


def tenant_problems(schedules: dict[str, Any], mention: str = "oncall:primary") -> dict[str, str]:
    data = {
        "tenant_id": "t",
        "name": "T",
        "slack_config": {"default_channel": "#a"},
        "escalation_policies": {
            "p": {
                "levels": [
                    {"delay": 0, "channels": ["#a"]},
                    {"delay": 60, "channels": ["#b"], "mention": mention},
                ]
            }
        },
        "oncall_schedules": schedules,
    }
    with pytest.raises(InvalidInput) as caught:
        parse_tenant(data, where="t.yaml")
    return dict(caught.value.problems)


GOOD = {"users": ["U0AAA"], "handoff": "daily", "start": "2026-03-01"}


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        ({"timezone": "Mars/Olympus"}, "oncall_schedules.primary.timezone", "IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "oncall_schedules.primary.timezone", "IANA"),
        ({"users": []}, "oncall_schedules.primary.users", "at least 1"),
        ({"users": ["alice"]}, "oncall_schedules.primary.users", "not a Slack user id"),
        ({"handoff_time": "9am"}, "oncall_schedules.primary.handoff_time", "HH:MM"),
        ({"handoff_time": "24:00"}, "oncall_schedules.primary.handoff_time", "HH:MM"),
        ({"handoff": "monthly"}, "oncall_schedules.primary.handoff", "daily"),
        ({"handoff_day": "monday"}, "oncall_schedules.primary", "only weekly"),
        (
            {"handoff": "weekly", "handoff_day": "funday"},
            "oncall_schedules.primary.handoff_day",
            "day of the week",
        ),
        (
            {"handoff": "weekly", "handoff_day": "monday"},
            "oncall_schedules.primary",
            "not the handoff day",
        ),
        (
            {"overrides": [{"user": "U0BBB", "start": "2026-03-05", "end": "2026-03-04"}]},
            "oncall_schedules.primary.overrides.0",
            "ends before it starts",
        ),
        (
            {"overrides": [{"user": "U0BBB", "date": "2025-12-31"}]},
            "oncall_schedules.primary.overrides.0",
            "never apply",
        ),
        (
            {
                "overrides": [
                    {"user": "U0BBB", "date": "2026-03-05"},
                    {"user": "U0CCC", "start": "2026-03-05T12:00", "end": "2026-03-06T12:00"},
                ]
            },
            "oncall_schedules.primary.overrides.1",
            "overlaps overrides.0",
        ),
        (
            {"overrides": [{"user": "U0BBB", "date": "2026-03-05", "end": "2026-03-06"}]},
            "oncall_schedules.primary.overrides.0",
            "not both",
        ),
        (
            {
                "overrides": [
                    {"user": "U0BBB", "start": "2026-03-05T10:00+01:00", "end": "2026-03-06"}
                ]
            },
            "oncall_schedules.primary.overrides.0",
            "leave out the UTC offset",
        ),
        (
            {"overrides": [{"user": "bob", "date": "2026-03-05"}]},
            "oncall_schedules.primary.overrides.0.user",
            "Slack user id",
        ),
    ],
)
def test_bad_schedules_are_refused_with_key_path_and_reason(
    change: dict[str, Any], path: str, reason: str
) -> None:
    found = tenant_problems({"primary": {**GOOD, **change}})
    assert path in found, found
    assert reason in found[path]


def test_a_level_must_mention_an_existing_schedule() -> None:
    found = tenant_problems({"secondary": GOOD})
    assert "no on-call schedule named 'primary'" in found["escalation_policies.p.levels.1.mention"]
    assert "secondary" in found["escalation_policies.p.levels.1.mention"]


def test_oncall_who_reads_the_tenant_files(tmp_path: Path) -> None:
    from alerting.cli import main

    tenant = {
        "tenant_id": "acme",
        "name": "Acme",
        "slack_config": {"default_channel": "#a"},
        "oncall_schedules": {
            "primary": {**GOOD, "users": ["U0AAA", "U0BBB"], "timezone": "Europe/Paris"},
            "dba": {**GOOD, "users": ["U0DBA"]},
        },
    }
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(tenant))
    (tmp_path / "broken.yaml").write_text("tenant_id: [unclosed\n")  # another tenant's problem
    runner = CliRunner()

    def who(*args: str) -> Result:
        return runner.invoke(main, ["oncall", "who", "--dir", str(tmp_path), *args])

    done = who("--tenant", "acme", "--schedule", "primary", "--at", "2026-03-29T12:00")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "primary (Europe/Paris, daily at 09:00)",
        "  on call  U0AAA",
        "  since    2026-03-29 09:00 CEST (Sun)",
        "  until    2026-03-30 09:00 CEST (Mon)",
        "  next     U0BBB",
    ]
    both = who("--tenant", "acme", "--at", "2026-03-02T08:00:00+00:00")  # 09:00 in Paris
    assert both.exit_code == 0 and "dba (UTC" in both.output
    assert "  on call  U0BBB" in both.output and "  on call  U0DBA" in both.output
    assert "until    -" in both.output  # a one-person rotation: no end in sight
    # Exit 2: bad input (options, an unknown tenant); exit 1: the tenant file has problems.
    for args, message, code in [
        (["--tenant", "nope"], "no tenant file for 'nope'", 2),
        (["--tenant", "acme", "--schedule", "x"], "no schedule 'x' (schedules: dba, primary)", 2),
        (["--tenant", "acme", "--at", "tomorrow"], "'tomorrow' is not an ISO-8601 time", 2),
        (["--tenant", "broken"], "not valid YAML", 1),
    ]:
        failed = who(*args)
        assert failed.exit_code == code, failed.output
        assert message in failed.output
