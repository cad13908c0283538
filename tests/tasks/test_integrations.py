"""PagerDuty and ServiceNow as escalation targets, through the worker, the beat tick and the
sandbox's stand-ins: paged once, kept in step with the alert, retried, never leaking secrets."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.models import Alert, IntegrationCall
from alerting.db.session import session_scope
from alerting.pipeline.lifecycle import find_alert
from tests.conftest import TEST_ROUTING_KEY, TEST_SERVICENOW_PASSWORD, Stack, ticking
from tests.services import cli, wait_for
from tests.tasks.helpers import all_sent, details, wait_details


@pytest.fixture
def beat(clean: Stack) -> Iterator[None]:
    """Escalation ticks, with Slack's limit off in the sandbox (these tests count calls)."""
    clean.sandbox.configure(rate_limit=False)
    with ticking("alerting.escalation_tick"):
        yield


def _calls(event_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    with session_scope() as session:
        alert = find_alert(session, event_id)
        rows = session.scalars(
            select(IntegrationCall).where(IntegrationCall.alert_id == alert.id)
        ).all()
        return {
            (c.target, c.action): {
                "state": c.state,
                "attempts": c.attempts,
                "last_error": c.last_error,
                "response": dict(c.response),
            }
            for c in rows
        }


def _settled(event_id: str, expected: dict[tuple[str, str], str], timeout: float = 20) -> Any:
    def check() -> dict[tuple[str, str], dict[str, Any]] | None:
        calls = _calls(event_id)
        states = {key: call["state"] for key, call in calls.items()}
        return calls if states == expected else None

    return wait_for(check, timeout=timeout, what=f"integration calls {expected}")


def _paged(stack: Stack, message: str = "api down") -> str:
    """A firing alert of tenant-a climbing the `paged` policy (level 1: PagerDuty and
    ServiceNow, no channel)."""
    event_id = str(
        send_alert.delay(
            tenant_id="tenant-a",
            alert_type="service_down",
            severity="error",
            message=message,
            source="api-gateway",
            labels={"service": "api", "region": "eu-west-1"},
        ).id
    )
    wait_details(event_id, all_sent)
    SyncSlackAlertManager().setup_escalation(event_id, escalation_policy="paged")
    return event_id


def _pd_events(stack: Stack, status: int | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.sandbox.integrations()["pagerduty"]
        if status is None or e["status"] == status
    ]


def _sn_requests(stack: Stack) -> list[dict[str, Any]]:
    return list(stack.sandbox.integrations()["servicenow"]["requests"])


def test_level_pages_once_and_follows_the_alert(clean: Stack, beat: None) -> None:
    event_id = _paged(clean)
    calls = _settled(
        event_id, {("pagerduty", "trigger"): "sent", ("servicenow", "trigger"): "sent"}
    )
    time.sleep(1.0)  # more ticks: still one trigger each
    (trigger,) = _pd_events(clean)
    assert trigger["status"] == 202
    event = trigger["event"]
    assert event["event_action"] == "trigger" and event["routing_key"] == TEST_ROUTING_KEY
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["source"] == "api-gateway"
    assert event["payload"]["custom_details"]["labels"] == {"service": "api", "region": "eu-west-1"}
    assert calls[("pagerduty", "trigger")]["response"]["dedup_key"] == event["dedup_key"]
    (incident,) = clean.sandbox.integrations()["servicenow"]["incidents"]
    assert incident["state"] == "1" and incident["number"].startswith("INC")
    assert calls[("servicenow", "trigger")]["response"]["number"] == incident["number"]
    with session_scope() as session:
        alert = find_alert(session, event_id)
        assert (alert.servicenow_number, alert.servicenow_sys_id) == (
            incident["number"],
            incident["sys_id"],
        )

    SyncSlackAlertManager().acknowledge(event_id, by="alice")
    _settled(
        event_id,
        {
            ("pagerduty", "trigger"): "sent",
            ("servicenow", "trigger"): "sent",
            ("pagerduty", "acknowledge"): "sent",
            ("servicenow", "acknowledge"): "sent",
        },
    )
    assert [e["event"]["event_action"] for e in _pd_events(clean)] == ["trigger", "acknowledge"]
    assert _pd_events(clean)[1]["event"]["dedup_key"] == event["dedup_key"]
    (incident,) = clean.sandbox.integrations()["servicenow"]["incidents"]
    assert incident["state"] == "2"
    assert "alice" in incident["work_notes_list"][0]
    # The acknowledgement's Slack message shows the incident number.
    (ack_message,) = wait_for(
        lambda: [m for m in clean.sandbox.messages("#a-alerts") if "alice" in str(m["blocks"])],
        what="the acknowledgement in Slack",
    )
    assert incident["number"] in str(ack_message["blocks"])
    assert "ServiceNow incident" in str(ack_message["blocks"])

    SyncSlackAlertManager().resolve(event_id, by="bob")
    _settled(
        event_id,
        {
            (target, action): "sent"
            for target in ("pagerduty", "servicenow")
            for action in ("trigger", "acknowledge", "resolve")
        },
    )
    assert [e["event"]["event_action"] for e in _pd_events(clean)] == [
        "trigger",
        "acknowledge",
        "resolve",
    ]
    (incident,) = clean.sandbox.integrations()["servicenow"]["incidents"]
    assert incident["state"] == "6"
    assert incident["close_code"] and "bob" in incident["close_notes"]
    assert [r["method"] for r in _sn_requests(clean)] == ["POST", "PATCH", "PATCH"]
    actions = [e["action"] for e in details(event_id)["audit"]]  # type: ignore[index]
    assert actions.count("integration.sent") == 6


def test_an_alert_never_paged_sends_nothing(clean: Stack, beat: None) -> None:
    event_id = str(
        send_alert.delay(tenant_id="tenant-a", alert_type="x", severity="info", message="m").id
    )
    wait_details(event_id, all_sent)
    SyncSlackAlertManager().acknowledge(event_id, by="alice")
    SyncSlackAlertManager().resolve(event_id, by="alice")
    time.sleep(1.5)
    assert _calls(event_id) == {}
    assert clean.sandbox.integrations()["pagerduty"] == []
    assert _sn_requests(clean) == []


def test_429_and_500_are_retried_then_succeed(clean: Stack, beat: None) -> None:
    clean.sandbox.integration_fault("pagerduty", [429, 500], retry_after=1)
    clean.sandbox.integration_fault("servicenow", [500, 429], retry_after=1)
    event_id = _paged(clean)
    calls = _settled(
        event_id, {("pagerduty", "trigger"): "sent", ("servicenow", "trigger"): "sent"}
    )
    assert calls[("pagerduty", "trigger")]["attempts"] == 3
    assert calls[("servicenow", "trigger")]["attempts"] == 3
    assert [e["status"] for e in _pd_events(clean)] == [429, 500, 202]
    assert [r["status"] for r in _sn_requests(clean)] == [500, 429, 201]
    assert len(clean.sandbox.integrations()["servicenow"]["incidents"]) == 1
    retries = [e for e in details(event_id)["audit"] if e["action"] == "integration.retry"]  # type: ignore[index]
    assert sorted(e["detail"]["status"] for e in retries) == [429, 429, 500, 500]


def test_400_is_dead_with_its_reason_and_not_retried(clean: Stack, beat: None) -> None:
    clean.sandbox.integration_fault("pagerduty", [400])
    event_id = _paged(clean)
    calls = _settled(
        event_id, {("pagerduty", "trigger"): "dead", ("servicenow", "trigger"): "sent"}
    )
    dead = calls[("pagerduty", "trigger")]
    assert dead["attempts"] == 1 and "HTTP 400" in dead["last_error"]
    time.sleep(2.0)
    assert len(_pd_events(clean)) == 1, "a 400 is never retried"
    # PagerDuty never got the alert: acknowledging it goes to ServiceNow only.
    SyncSlackAlertManager().acknowledge(event_id, by="alice")
    _settled(
        event_id,
        {
            ("pagerduty", "trigger"): "dead",
            ("servicenow", "trigger"): "sent",
            ("servicenow", "acknowledge"): "sent",
        },
    )
    time.sleep(1.0)
    assert len(_pd_events(clean)) == 1
    reasons = [
        e["detail"]["reason"]
        for e in details(event_id)["audit"]  # type: ignore[index]
        if e["action"] == "integration.dead"
    ]
    assert len(reasons) == 1 and "HTTP 400" in reasons[0]


def test_acknowledge_waits_for_a_trigger_still_retrying(clean: Stack, beat: None) -> None:
    clean.sandbox.integration_fault("pagerduty", [429], retry_after=3)
    event_id = _paged(clean)
    wait_for(lambda: _pd_events(clean, 429), timeout=15, what="the first, refused trigger")
    SyncSlackAlertManager().acknowledge(event_id, by="alice")
    time.sleep(1.0)
    calls = _calls(event_id)
    assert calls[("pagerduty", "trigger")]["state"] == "retrying"
    assert calls[("pagerduty", "acknowledge")]["state"] == "pending"
    assert [e["status"] for e in _pd_events(clean)] == [429], "nothing overtook the trigger"
    _settled(
        event_id,
        {
            ("pagerduty", "trigger"): "sent",
            ("servicenow", "trigger"): "sent",
            ("pagerduty", "acknowledge"): "sent",
            ("servicenow", "acknowledge"): "sent",
        },
    )
    assert [(e["event"]["event_action"], e["status"]) for e in _pd_events(clean)] == [
        ("trigger", 429),
        ("trigger", 202),
        ("acknowledge", 202),
    ]
    actions = [e["action"] for e in details(event_id)["audit"]]  # type: ignore[index]
    assert "integration.waiting" in actions


def test_routing_keys_and_passwords_never_leak(clean: Stack, beat: None) -> None:
    log_offset = clean.worker.log_size()
    event_id = _paged(clean)
    _settled(event_id, {("pagerduty", "trigger"): "sent", ("servicenow", "trigger"): "sent"})
    SyncSlackAlertManager().resolve(event_id, by="alice")
    _settled(
        event_id,
        {
            (target, action): "sent"
            for target in ("pagerduty", "servicenow")
            for action in ("trigger", "resolve")
        },
    )
    secrets_ = (TEST_ROUTING_KEY, TEST_SERVICENOW_PASSWORD)
    with session_scope() as session:
        tables = " ".join(
            session.execute(
                text(f"SELECT coalesce(string_agg(t::text, ' '), '') FROM {name} t")
            ).scalar_one()
            for name in ("tenants", "audit_log", "integration_calls", "alerts", "alert_events")
        )
        assert session.scalar(select(Alert.servicenow_number)) is not None
    outputs = [
        subprocess.run(
            cli(*args), env=clean.env, capture_output=True, text=True, timeout=60, check=False
        )
        for args in (
            ("alerts", "show", event_id, "--json"),
            ("alerts", "show", event_id),
            ("tenants", "list"),
            ("tenants", "validate", "--dir", str(clean.tenants_dir)),
        )
    ]
    assert all(out.returncode == 0 for out in outputs), [out.stderr for out in outputs]
    texts = {
        "worker log": clean.worker.log_text(log_offset),
        "tables": tables,
        **{f"cli {i}": out.stdout + out.stderr for i, out in enumerate(outputs)},
    }
    assert "tenant-a" in tables and "$encrypted" in tables  # the query saw the tenants
    for where, content in texts.items():
        for secret in secrets_:
            assert secret not in content, f"a secret appears in the {where}"


def test_a_call_whose_message_the_broker_lost_is_swept(clean: Stack) -> None:
    """The call committed, but its task never reached Redis: the sweeper sends it."""
    from alerting.pipeline.integrate import queue_call
    from workers.app import app

    clean.sandbox.configure(rate_limit=False)
    event_id = str(
        send_alert.delay(
            tenant_id="tenant-a", alert_type="service_down", severity="error", message="lost"
        ).id
    )
    found = wait_details(event_id, all_sent)
    with session_scope() as session:
        alert = session.get_one(Alert, found["alert"]["id"])
        queue_call(session, alert, target="pagerduty", action="trigger", actor="user:test")
    time.sleep(2.5)  # ALERTING_SWEEP_AFTER_SECONDS in the tests: 2
    assert _pd_events(clean) == []
    app.send_task("alerting.sweep")
    _settled(event_id, {("pagerduty", "trigger"): "sent"})
    (trigger,) = _pd_events(clean)
    assert trigger["event"]["event_action"] == "trigger"
