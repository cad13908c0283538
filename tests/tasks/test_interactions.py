"""Slack buttons: signed requests only, no replays, the team must own the alert."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from alerting import send_alert
from tests.conftest import TEST_SIGNING_SECRET, Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, wait_details


def _click(
    alert_id: str,
    action_id: str,
    *,
    team: str = "T0TENANTW",
    age: float = 0,
    secret: str = TEST_SIGNING_SECRET,
) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": "block_actions",
        "team": {"id": team},
        "user": {"id": "U123", "username": "alice", "team_id": team},
        "actions": [{"action_id": action_id, "value": alert_id, "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return body, {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _alert(clean: Stack) -> str:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-w", alert_type="x", severity="error", message="m"
    ).id
    return str(wait_details(event_id, all_sent)["alert"]["id"])


def test_acknowledge_button_updates_the_message_in_place(web: TestClient, clean: Stack) -> None:
    alert_id = _alert(clean)
    body, headers = _click(alert_id, "alert_acknowledge")
    started = time.monotonic()
    resp = web.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 200 and time.monotonic() - started < 3.0
    wait_for(
        lambda: "Acknowledged by @alice" in clean.sandbox.messages("#w-alerts")[0]["text"],
        what="the message updated in place",
    )
    found = wait_details(alert_id, lambda d: d["alert"]["status"] == "acknowledged")
    assert found["alert"]["acknowledged_by"] == "@alice"
    assert ("@alice", "alert.acknowledged") in [(e["actor"], e["action"]) for e in found["audit"]]
    # The same request again is a replay.
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 409
    body, headers = _click(alert_id, "alert_resolve")
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 200
    wait_details(alert_id, lambda d: d["alert"]["status"] == "resolved")


def test_unsigned_stale_or_foreign_clicks_are_refused(web: TestClient, clean: Stack) -> None:
    alert_id = _alert(clean)
    body, headers = _click(alert_id, "alert_acknowledge", secret="not-the-secret")
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 401
    body, headers = _click(alert_id, "alert_acknowledge", age=6 * 60)
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 401
    body, headers = _click(alert_id, "alert_acknowledge", team="T0OTHERTEAM")
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 404
    body, headers = _click(alert_id, "not_our_button")
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 400
    time.sleep(1.0)
    assert wait_details(alert_id, lambda d: True)["alert"]["status"] == "firing"


def test_an_unknown_action_is_refused_and_leaves_the_alert_alone(clean: Stack) -> None:
    from workers.app import app

    alert_id = _alert(clean)
    offset = clean.worker.log_size()
    app.send_task(
        "alerting.interaction",
        kwargs={"tenant_id": "tenant-w", "alert_id": alert_id, "action": "delete", "by": "@eve"},
        queue="alerts.t.tenant-w",
    )
    wait_for(
        lambda: "unknown action 'delete'" in clean.worker.log_text(offset),
        what="the worker to refuse the action",
    )
    found = wait_details(alert_id, lambda d: True)
    assert found["alert"]["status"] == "firing"
    assert "@eve" not in [e["actor"] for e in found["audit"]]
