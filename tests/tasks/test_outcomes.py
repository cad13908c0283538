"""Every row of the outcome table (alerting/slack/client.py), walked against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from alerting import send_alert
from tests.conftest import Stack
from tests.tasks.helpers import wait_details

#: Webhook tenant without a fallback channel, and Web API tenant with one.
WEBHOOK = ("tenant-b", "#b-alerts", None)
WEB_API = ("tenant-w", "#w-alerts", "#w-fallback")


def _final(found: dict[str, Any]) -> bool:
    states = [n["state"] for n in found["notifications"]]
    settled = all(state in ("sent", "dead", "rerouted") for state in states)
    # A re-routed notification is settled only once its fallback copy is.
    return bool(states) and settled and states != ["rerouted"]


def _run(clean: Stack, target: tuple[str, str, str | None], **fault: Any) -> dict[str, Any]:
    tenant, channel, _ = target
    clean.sandbox.configure(rate_limit=False)
    clean.sandbox.fault(channel, **fault)
    event_id = send_alert.delay(tenant_id=tenant, alert_type="x", severity="error", message="m").id
    return wait_details(event_id, _final, timeout=30, what="a final state")


def _by_channel(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["channel"]: n for n in found["notifications"]}


def _retries(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["detail"] for e in found["audit"] if e["action"] == "notification.retry"]


@pytest.mark.parametrize(
    ("target", "fault", "reason"),
    [
        (WEBHOOK, {"responses": [429], "retry_after": 1}, "rate_limited"),
        (WEBHOOK, {"responses": [500]}, "internal_error"),
        (WEBHOOK, {"responses": [503]}, "service_unavailable"),
        (WEBHOOK, {"hold_seconds": 4.0, "count": 1}, "timeout"),
        (WEB_API, {"responses": [429], "retry_after": 1}, "rate_limited"),
        (WEB_API, {"responses": [502]}, None),
        (WEB_API, {"errors": ["fatal_error"]}, "fatal_error"),
        (WEB_API, {"errors": ["internal_error"]}, "internal_error"),
        (WEB_API, {"errors": ["service_unavailable"]}, "service_unavailable"),
        (WEB_API, {"errors": ["request_timeout"]}, "request_timeout"),
        (WEB_API, {"hold_seconds": 4.0, "count": 1}, "timeout"),
    ],
)
def test_retried_then_sent(
    clean: Stack, target: tuple[str, str, str | None], fault: dict[str, Any], reason: str | None
) -> None:
    found = _run(clean, target, **fault)
    (note,) = found["notifications"]
    assert note["state"] == "sent"
    (retry,) = _retries(found)
    if reason:
        assert retry["reason"] == reason
    if "retry_after" in fault:
        assert retry["countdown"] == fault["retry_after"]


@pytest.mark.parametrize(
    ("target", "error"),
    [
        (WEBHOOK, "invalid_payload"),
        (WEBHOOK, "no_text"),
        (WEBHOOK, "action_prohibited"),
        (WEBHOOK, "no_service"),
        (WEBHOOK, "channel_not_found"),  # no fallback channel: dead
        (WEBHOOK, "channel_is_archived"),
        (WEB_API, "invalid_auth"),
        (WEB_API, "not_authed"),
        (WEB_API, "token_revoked"),
        (WEB_API, "account_inactive"),
        (WEB_API, "missing_scope"),
        (WEB_API, "msg_too_long"),
        (WEB_API, "invalid_blocks"),
        (WEB_API, "no_text"),
    ],
)
def test_permanent_errors_are_dead_at_once(
    clean: Stack, target: tuple[str, str, str | None], error: str
) -> None:
    found = _run(clean, target, errors=[error])
    (note,) = found["notifications"]
    assert (note["state"], note["last_error"], note["attempts"]) == ("dead", error, 1)
    assert not _retries(found)


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "not_in_channel"])
def test_channel_errors_go_to_the_fallback_channel(clean: Stack, error: str) -> None:
    found = _run(clean, WEB_API, errors=[error])
    notes = _by_channel(found)
    assert notes["#w-alerts"]["state"] == "rerouted"
    assert notes["#w-fallback"]["state"] == "sent"
    (message,) = clean.sandbox.messages("#w-fallback")
    assert error in str(message["blocks"])


def test_gone_thread_keeps_the_updated_message(clean: Stack) -> None:
    """``thread_not_found`` on a follow-up's reply: the message itself is up to date, done.
    (``message_not_found`` on an update: see test_web_api's deleted message.)"""
    from alerting import SyncSlackAlertManager

    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-w", alert_type="x", severity="error", message="m"
    ).id
    wait_details(event_id, _final)
    clean.sandbox.fault("#w-alerts", errors=["thread_not_found"])
    SyncSlackAlertManager().acknowledge(event_id, by="alice")
    found = wait_details(event_id, lambda d: len(d["notifications"]) == 2 and _final(d))
    assert [n["state"] for n in found["notifications"]] == ["sent", "sent"]
    (message,) = clean.sandbox.messages("#w-alerts")
    assert message["edits"] == 1 and "Acknowledged by alice" in message["text"]
