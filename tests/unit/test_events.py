"""Producer-side validation: every bad call names the field and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.events import (
    MAX_LABELS,
    SEVERITY_ALIASES,
    Severity,
    fingerprint,
    validate_event,
)

GOOD: dict[str, Any] = {
    "tenant_id": "spotify-tenant-1",
    "alert_type": "high_cpu",
    "severity": "critical",
    "message": "Utilisation CPU > 95%",
}


def problems(**changes: Any) -> dict[str, str]:
    data = {**GOOD, **changes}
    data = {k: v for k, v in data.items() if v is not ...}
    with pytest.raises(InvalidInput) as caught:
        validate_event(data, max_message_chars=100)
    return dict(caught.value.problems)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"colour": "red"}, "colour", "unknown field"),
        ({"message": "   "}, "message", "must not be empty"),
        ({"message": ...}, "message", "Field required"),
        ({"severity": "urgent"}, "severity", "'urgent' is not a severity"),
        ({"severity": 3}, "severity", "must be a string"),
        ({"labels": {"a": 1}}, "labels.a", "valid string"),
        ({"labels": {"a": {"b": "c"}}}, "labels.a", "valid string"),
        ({"labels": ["a"]}, "labels", "valid dictionary"),
        ({"labels": {str(i): "v" for i in range(MAX_LABELS + 1)}}, "labels", "at most 64 labels"),
        ({"message": "x" * 101}, "message", "the limit is 100"),
        ({"tenant_id": "Bad Tenant"}, "tenant_id", "lowercase"),
        ({"alert_type": "high cpu!"}, "alert_type", "letters, digits"),
        ({"environment": "Prod"}, "environment", "lowercase"),
        ({"status": "open"}, "status", "'firing' or 'resolved'"),
        ({"occurred_at": "yesterday"}, "occurred_at", "datetime"),
        ({"annotations": {"runbook_url": 5}}, "annotations.runbook_url", "valid string"),
    ],
)
def test_bad_calls_name_the_field(changes: dict[str, Any], field: str, reason: str) -> None:
    found = problems(**changes)
    assert field in found, found
    assert reason in found[field]


def test_all_problems_are_reported_at_once() -> None:
    found = problems(severity="nope", message="", extra=1)
    assert set(found) == {"severity", "message", "extra"}


@pytest.mark.parametrize("alias", sorted(SEVERITY_ALIASES))
def test_documented_aliases(alias: str) -> None:
    event = validate_event({**GOOD, "severity": alias.upper()})
    assert event.severity is SEVERITY_ALIASES[alias]


def test_naive_time_is_utc_and_fingerprint_ignores_label_order() -> None:
    event = validate_event(
        {**GOOD, "occurred_at": "2026-01-01T10:00:00", "labels": {"b": "2", "a": "1"}}
    )
    assert event.occurred_at is not None and event.occurred_at.utcoffset() is not None
    assert event.fingerprint() == fingerprint(
        "spotify-tenant-1", "high_cpu", None, {"a": "1", "b": "2"}
    )
    assert event.fingerprint() != fingerprint(
        "spotify-tenant-1", "high_cpu", "staging", {"a": "1", "b": "2"}
    )
    assert Severity.CRITICAL.rank > Severity.INFO.rank
