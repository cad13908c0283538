"""PagerDuty and ServiceNow: payload builders and the tenant file's ``integrations`` block."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from alerting.domain.errors import InvalidInput
from alerting.domain.events import Severity
from alerting.domain.tenants import parse_tenant
from alerting.domain.views import AlertView
from alerting.integrations import pagerduty, servicenow
from alerting.integrations.standins import _pagerduty_errors

KEY = "abcdefghijklmnopqrstuvwxyz012345"


def _view(**overrides: Any) -> AlertView:
    fields: dict[str, Any] = {
        "alert_id": "7a1c0b1e-0000-4000-8000-000000000001",
        "tenant_id": "acme",
        "tenant_name": "Acme",
        "alert_type": "disk_full",
        "severity": Severity.WARNING,
        "message": "disk /var at 97%",
        "status": "firing",
        "environment": "production",
        "labels": {"host": "db-1"},
        "annotations": {},
        "source": "node-exporter",
        "count": 2,
        "first_seen_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "last_seen_at": datetime(2026, 1, 2, 3, 5, 5, tzinfo=UTC),
    }
    return AlertView(**{**fields, **overrides})


@pytest.mark.parametrize("severity", list(Severity))
def test_trigger_event_is_valid_for_pagerduty(severity: Severity) -> None:
    event = pagerduty.trigger_event(_view(severity=severity), routing_key=KEY, fingerprint="f1")
    assert _pagerduty_errors(event) == []
    assert event["payload"]["severity"] == severity.value
    assert event["payload"]["custom_details"]["labels"] == {"host": "db-1"}
    assert event["payload"]["source"] == "node-exporter"


def test_summary_is_cut_to_pagerduty_limit() -> None:
    event = pagerduty.trigger_event(_view(message="x" * 5000), routing_key=KEY, fingerprint="f")
    assert len(event["payload"]["summary"]) == pagerduty.MAX_SUMMARY_CHARS
    assert event["payload"]["summary"].endswith("…")


def test_dedup_key_is_per_tenant_and_fingerprint() -> None:
    key = pagerduty.dedup_key("acme", "f1")
    assert key == pagerduty.dedup_key("acme", "f1")
    assert key != pagerduty.dedup_key("other", "f1") != pagerduty.dedup_key("acme", "f2")
    assert len(key) <= 255
    follow = pagerduty.follow_up_event(
        "acknowledge", routing_key=KEY, tenant_id="acme", fingerprint="f1"
    )
    assert follow == {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": key}
    assert _pagerduty_errors(follow) == []


def test_servicenow_bodies() -> None:
    body = servicenow.new_incident(
        _view(severity=Severity.CRITICAL, message="a\nb " * 200),
        correlation_id="c",
        assignment_group="ops",
    )
    assert len(body["short_description"]) <= servicenow.MAX_SHORT_DESCRIPTION
    assert (body["urgency"], body["impact"], body["assignment_group"]) == ("1", "1", "ops")
    assert "host: db-1" in body["description"] and "caller_id" not in body
    assert servicenow.acknowledged_update("user:alice")["state"] == servicenow.STATE_IN_PROGRESS
    resolved = servicenow.resolved_update("user:bob")
    assert resolved["state"] == servicenow.STATE_RESOLVED
    assert resolved["close_code"] and "user:bob" in resolved["close_notes"]


def _tenant(**extra: Any) -> dict[str, Any]:
    return {"tenant_id": "acme", "name": "Acme", "slack_config": {"default_channel": "#a"}, **extra}


def _problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_tenant(data, where="acme.yaml", webhook_hosts=frozenset({"hooks.slack.com"}))
    return dict(caught.value.problems)


SN = {"instance_url": "https://acme.service-now.com", "username": "u", "password": "s3cret-pw"}


def test_integrations_block_is_validated_with_key_paths() -> None:
    found = _problems(_tenant(integrations={"pagerduty": {"routing_key": "short"}}))
    assert "32-character" in found["integrations.pagerduty.routing_key"]
    found = _problems(
        _tenant(integrations={"servicenow": {**SN, "instance_url": "https://evil.example"}})
    )
    assert "not allowed" in found["integrations.servicenow.instance_url"]
    found = _problems(
        _tenant(integrations={"servicenow": {**SN, "instance_url": "http://acme.service-now.com"}})
    )
    assert "integrations.servicenow.instance_url" in found
    found = _problems(_tenant(integrations={"opsgenie": {}}))
    assert found["integrations.opsgenie"] == "unknown field"
    ok = parse_tenant(
        _tenant(integrations={"servicenow": {**SN, "instance_url": "http://127.0.0.1:9/sn"}}),
        where="acme.yaml",
        webhook_hosts=frozenset({"hooks.slack.com", "127.0.0.1"}),
    )
    assert ok.integrations.configured() == {"servicenow"}


def test_levels_name_only_configured_integrations() -> None:
    policies = {
        "p": {"levels": [{"delay": 0, "channels": ["#a"]}, {"delay": 5, "pagerduty": True}]}
    }
    found = _problems(_tenant(escalation_policies=policies))
    assert "escalation_policies.p.levels.1.pagerduty" in str(found)
    assert "no integrations.pagerduty" in str(found)
    found = _problems(_tenant(escalation_policies={"p": {"levels": [{"delay": 0}]}}))
    assert "at least one channel" in found["escalation_policies.p.levels.0"]
    tenant = parse_tenant(
        _tenant(
            escalation_policies=policies | {"sn": {"levels": [{"delay": 0, "servicenow": True}]}},
            integrations={"pagerduty": {"routing_key": KEY}, "servicenow": SN},
        ),
        where="acme.yaml",
    )
    assert tenant.escalation_policies["p"].levels[1].integrations() == ["pagerduty"]


def test_secrets_are_masked_in_the_config() -> None:
    tenant = parse_tenant(
        _tenant(integrations={"pagerduty": {"routing_key": KEY}, "servicenow": SN}),
        where="acme.yaml",
    )
    shown = repr(tenant) + str(tenant.model_dump(mode="json"))
    assert KEY not in shown and "s3cret-pw" not in shown
    assert tenant.integrations.servicenow is not None
    assert tenant.integrations.servicenow.password.get_secret_value() == "s3cret-pw"
