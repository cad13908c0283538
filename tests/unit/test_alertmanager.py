"""Alertmanager's webhook payload as events: mapping, defaults, and every refusal's field path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.events import Severity
from alerting.integrations.alertmanager import (
    SEVERITY_DEFAULTED_LABEL,
    AlertmanagerBatch,
    parse_webhook,
)

PROMETHEUS_URL = "http://prometheus:9090/graph?g0.expr=rate%28cpu%5B5m%5D%29+%3E+0.9&g0.tab=1"


def am_alert(index: int = 0, **changes: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {
            "alertname": "HighCPU",
            "instance": f"web-{index}",
            "severity": "critical",
        },
        "annotations": {"summary": f"CPU above 90% on web-{index}", "description": "long"},
        "startsAt": "2024-05-01T10:00:00.123456789Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": PROMETHEUS_URL,
        "fingerprint": f"{index:016x}",
    }
    alert.update(changes)
    return alert


def payload(*alerts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="HighCPU"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "slack-alerting",
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts) or [am_alert()],
    }
    body.update(changes)
    return body


def parse(body: dict[str, Any]) -> AlertmanagerBatch:
    return parse_webhook(json.dumps(body), tenant_id="tenant-a", max_message_chars=200)


def problems(body: dict[str, Any] | str) -> dict[str, str]:
    raw = body if isinstance(body, str) else json.dumps(body)
    with pytest.raises(InvalidInput) as caught:
        parse_webhook(raw, tenant_id="tenant-a", max_message_chars=200)
    return dict(caught.value.problems)


def test_a_firing_alert_becomes_an_event() -> None:
    batch = parse(payload(am_alert(labels={**am_alert()["labels"], "env": "Production"})))
    (event,) = batch.events
    assert (batch.firing, batch.resolved, batch.severity_defaulted) == (1, 0, 0)
    assert event.tenant_id == "tenant-a"
    assert event.alert_type == "HighCPU"
    assert event.severity is Severity.CRITICAL
    assert event.environment == "production"
    assert event.message == "CPU above 90% on web-0"
    assert event.labels["instance"] == "web-0" and event.labels["env"] == "Production"
    assert event.annotations["description"] == "long"
    assert event.annotations["generator_url"] == PROMETHEUS_URL
    assert event.source == PROMETHEUS_URL
    assert event.status == "firing"
    assert event.occurred_at is not None and event.occurred_at.isoformat().startswith(
        "2024-05-01T10:00:00.123456"
    )


def test_message_falls_back_to_description_then_alertname() -> None:
    (event,) = parse(payload(am_alert(annotations={"summary": " ", "description": "d"}))).events
    assert event.message == "d"
    (event,) = parse(payload(am_alert(annotations={}))).events
    assert event.message == "HighCPU"


@pytest.mark.parametrize(
    ("severity", "expected", "marker"),
    [
        ("page", Severity.WARNING, "unknown"),
        (None, Severity.WARNING, "missing"),
        ("P1", Severity.CRITICAL, None),
        ("warn", Severity.WARNING, None),
    ],
)
def test_severity_goes_through_the_aliases_and_a_default_is_labelled(
    severity: str | None, expected: Severity, marker: str | None
) -> None:
    labels = {"alertname": "HighCPU"} | ({"severity": severity} if severity else {})
    batch = parse(payload(am_alert(labels=labels)))
    (event,) = batch.events
    assert event.severity is expected
    assert event.labels.get(SEVERITY_DEFAULTED_LABEL) == marker
    assert batch.severity_defaulted == (1 if marker else 0)
    if severity:
        assert event.labels["severity"] == severity


def test_an_invalid_environment_label_picks_no_environment() -> None:
    labels = {"alertname": "HighCPU", "severity": "info", "environment": "prod east"}
    (event,) = parse(payload(am_alert(labels=labels))).events
    assert event.environment is None and event.labels["environment"] == "prod east"


def test_re_posts_share_a_key_and_a_resolution_has_its_own() -> None:
    firing = parse(payload(am_alert(0), am_alert(1))).events
    again = parse(payload(am_alert(0), am_alert(1))).events
    assert [e.idempotency_key for e in firing] == [e.idempotency_key for e in again]
    assert len({e.idempotency_key for e in firing}) == 2
    resolved = am_alert(0, status="resolved", endsAt="2024-05-01T10:05:00Z")
    (event,) = parse(payload(resolved, status="resolved")).events
    assert event.status == "resolved" and event.idempotency_key != firing[0].idempotency_key
    assert event.occurred_at is not None and event.occurred_at.minute == 5
    assert event.fingerprint() == firing[0].fingerprint()
    restarted = parse(payload(am_alert(0, startsAt="2024-05-01T11:00:00Z"))).events[0]
    assert restarted.idempotency_key != firing[0].idempotency_key


def test_a_long_generator_url_is_shortened_for_the_source_only() -> None:
    url = "http://prometheus:9090/graph?g0.expr=" + "x" * 400
    (event,) = parse(payload(am_alert(generatorURL=url))).events
    assert event.source == "http://prometheus:9090/graph"
    assert event.annotations["generator_url"] == url
    (event,) = parse(payload(am_alert(generatorURL=""))).events
    assert event.source == "alertmanager" and "generator_url" not in event.annotations


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (payload(version="3"), "version", "'3' is not supported"),
        (payload(alerts="x"), "alerts", "valid array"),
        (payload(am_alert(labels={"severity": "info"})), "alerts.0.labels.alertname", "required"),
        (payload(am_alert(labels={"alertname": "a b"})), "alerts.0.labels.alertname", "1-128"),
        (payload(am_alert(startsAt="yesterday")), "alerts.0.startsAt", "datetime"),
        (payload(am_alert(startsAt="0001-01-01T00:00:00Z")), "alerts.0.startsAt", "must be set"),
        (payload(am_alert(status="resolved")), "alerts.0.endsAt", "must be set"),
        (
            payload(am_alert(status="resolved", endsAt="2024-05-01T09:00:00Z")),
            "alerts.0.endsAt",
            "before startsAt",
        ),
        (payload(am_alert(status="pending")), "alerts.0.status", "'firing' or 'resolved'"),
        (payload(am_alert(fingerprint="")), "alerts.0.fingerprint", "pattern"),
        (payload(am_alert(labels={"alertname": "A", "n": 1})), "alerts.0.labels.n", "string"),
        (
            payload(am_alert(annotations={"summary": "s" * 300})),
            "alerts.0.annotations.summary",
            "the limit is 200",
        ),
    ],
)
def test_a_bad_alert_names_its_field(body: dict[str, Any], field: str, reason: str) -> None:
    found = problems(body)
    assert field in found, found
    assert reason in found[field]


def test_every_bad_alert_of_a_batch_is_named() -> None:
    good, no_name = am_alert(0), am_alert(1, labels={"severity": "info"})
    bad_end = am_alert(2, status="resolved")
    found = problems(payload(good, no_name, bad_end, am_alert(3)))
    assert set(found) == {"alerts.1.labels.alertname", "alerts.2.endsAt"}


def test_not_json_is_refused() -> None:
    assert "Invalid JSON" in problems("{not json")["(input)"]


def test_only_a_defaulted_severity_is_counted() -> None:
    labels = {"alertname": "HighCPU", "severity": "info", SEVERITY_DEFAULTED_LABEL: "mine"}
    batch = parse(payload(am_alert(labels=labels)))
    assert batch.severity_defaulted == 0
    assert batch.events[0].labels[SEVERITY_DEFAULTED_LABEL] == "mine"
