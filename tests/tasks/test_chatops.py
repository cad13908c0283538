"""ChatOps from Slack through the real web app (Bolt), the real worker and the sandbox: the
``/alerts`` command, Escalate now, the silence modal, the resolution-note shortcut, who may
act, and requests that are hostile or come twice."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import requests
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from alerting import SyncSlackAlertManager, send_alert
from tests.conftest import TEST_SIGNING_SECRET, Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, wait_details

TEAM = "T0TENANTW"
CHANNEL = "#w-alerts"


def signed(
    body: bytes, *, age: float = 0, secret: str = TEST_SIGNING_SECRET, retry: int | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    headers = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": str(signature),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def response_url(stack: Stack, channel: str = CHANNEL) -> str:
    resp = requests.post(
        f"{stack.sandbox.base_url}/sandbox/response_urls", json={"channel": channel}, timeout=5
    )
    return str(resp.json()["url"])


def answers(stack: Stack, channel: str = CHANNEL) -> list[str]:
    resp = requests.get(
        f"{stack.sandbox.base_url}/sandbox/ephemeral", params={"channel": channel}, timeout=5
    )
    return [m["text"] for m in resp.json()["messages"]]


def command_body(
    text: str, *, url: str, user: str = "U123", name: str = "alice", team: str = TEAM
) -> bytes:
    return urlencode(
        {
            "team_id": team,
            "user_id": user,
            "user_name": name,
            "command": "/alerts",
            "text": text,
            "response_url": url,
            "trigger_id": f"{time.time():.6f}.{uuid.uuid4().hex[:8]}",
            "channel_id": "C0W",
        }
    ).encode()


def action_body(
    alert_id: str,
    action_id: str,
    *,
    url: str | None = None,
    user: str = "U123",
    name: str = "alice",
    option: str | None = None,
) -> bytes:
    action: dict[str, Any] = {"action_id": action_id, "action_ts": f"{time.time():.6f}"}
    action |= (
        {"type": "overflow", "selected_option": {"value": option}}
        if option
        else {"type": "button", "value": alert_id}
    )
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM},
        "user": {"id": user, "username": name, "team_id": TEAM},
        "trigger_id": f"{time.time():.6f}.{uuid.uuid4().hex[:8]}",
        "response_url": url,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def command(web: TestClient, stack: Stack, text: str, **who: str) -> int:
    body = command_body(text, url=response_url(stack), **who)
    return web.post("/slack/commands", content=body, headers=signed(body)).status_code


def wait_answer(stack: Stack, needle: str, channel: str = CHANNEL) -> str:
    found: list[str] = []

    def seen() -> bool:
        found[:] = [a for a in answers(stack, channel) if needle in a]
        return bool(found)

    wait_for(seen, what=f"an answer with {needle!r}")
    return found[-1]


def fire(clean: Stack, **fields: Any) -> str:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-w",
        alert_type=fields.pop("alert_type", "disk_full"),
        severity=fields.pop("severity", "error"),
        message=fields.pop("message", "disk 97% full"),
        **fields,
    ).id
    return str(wait_details(event_id, all_sent)["alert"]["id"])


def test_commands_list_show_ack_update_the_message_and_are_audited(
    web: TestClient, clean: Stack
) -> None:
    alert_id = fire(clean, labels={"service": "db"})
    fire(clean, alert_type="cpu_high", labels={"service": "api"})

    assert command(web, clean, "list service=db") == 200
    listed = wait_answer(clean, "open alerts")
    assert f"`{alert_id[:8]}`" in listed and "cpu_high" not in listed

    assert command(web, clean, f"show {alert_id[:8]}") == 200
    assert "disk 97% full" in wait_answer(clean, "times since")

    assert command(web, clean, f"ack {alert_id[:8]}") == 200
    wait_answer(clean, f"You acknowledged alert {alert_id[:8]}")
    wait_for(
        lambda: "Acknowledged by @alice" in clean.sandbox.messages(CHANNEL)[0]["text"],
        what="the alert's message updated in place, as a button does",
    )
    found = wait_details(alert_id, lambda d: d["alert"]["status"] == "acknowledged")
    (entry,) = [
        e
        for e in found["audit"]
        if e["action"] == "chatops.command" and e["detail"]["text"].startswith("ack")
    ]
    assert entry["actor"] == "@alice" and entry["detail"]["slack_user_id"] == "U123"
    assert entry["detail"]["result"] == "changed"

    # The same change again: a truthful answer, no second change.
    assert command(web, clean, f"ack {alert_id[:8]}", user="U456", name="bob") == 200
    wait_answer(clean, "was already acknowledged by @alice")
    assert wait_details(alert_id, lambda d: True)["alert"]["acknowledged_by"] == "@alice"


def test_bad_input_gets_one_line_with_the_right_form(web: TestClient, clean: Stack) -> None:
    for text, reason in [
        ("frobnicate", "Unknown command 'frobnicate'."),
        ("ack", "Give exactly one ID. Usage: `/alerts ack ID`"),
        ("ack zz", "is not an ID"),
        ("silence service=db 15m", "Say why in a comment after the duration."),
        ("silence service=db soon why", "is neither a matcher nor a duration"),
        ("resolve 0123456789", "No alert `0123456789`."),
        ('list "unclosed', "A quote is not closed."),
    ]:
        assert command(web, clean, text) == 200
        answer = wait_answer(clean, reason)
        assert "\n" not in answer and "Usage: `/alerts" in answer, answer


def test_silence_by_matchers_and_unsilence(web: TestClient, clean: Stack) -> None:
    assert command(web, clean, "silence service=db 1h30m disk work tonight") == 200
    made = wait_answer(clean, "made:")
    assert '`service="db"`' in made and "1h30m" in made
    silence_id = made.split()[1]
    assert command(web, clean, f"unsilence {silence_id}") == 200
    wait_answer(clean, f"Silence {silence_id} ended.")


def test_answers_follow_the_tenant_language(web: TestClient, clean: Stack) -> None:
    # tenant-w speaks English; the catalogs carry the same answer in French and German.
    from alerting.i18n import translator

    assert command(web, clean, "list") == 200
    assert wait_answer(clean, "No open alerts match.")
    assert translator("fr").gettext("No open alerts match.") != "No open alerts match."


def test_only_named_people_and_groups_may_escalate(web: TestClient, clean: Stack) -> None:
    alert_id = fire(clean, severity="critical")
    SyncSlackAlertManager().setup_escalation(
        alert_id, escalation_levels=[{"delay": 3600, "channels": ["#w-escalated"]}]
    )
    body = action_body(
        alert_id, "alert_more", url=response_url(clean), option=f"escalate:{alert_id}"
    )
    assert web.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    refusal = wait_answer(clean, "You may not escalate alerts here")
    assert "<@U0LEAD>" in refusal and "<!subteam^S0SRE>" in refusal
    assert clean.sandbox.messages("#w-escalated") == []

    # Alice joins the SRE group in Slack: now she may.
    requests.post(
        f"{clean.sandbox.base_url}/sandbox/app", json={"usergroups": {"S0SRE": ["U123"]}}, timeout=5
    ).raise_for_status()
    try:
        body = action_body(
            alert_id, "alert_more", url=response_url(clean), option=f"escalate:{alert_id}"
        )
        assert (
            web.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
        )
        wait_answer(clean, f"You escalated alert {alert_id[:8]} to level 1.")
        wait_for(lambda: clean.sandbox.messages("#w-escalated"), what="level 1 notified now")
        # A second Escalate now at once is the same intent: nothing more fires.
        assert command(web, clean, f"escalate {alert_id[:8]}", user="U0LEAD", name="lead") == 200
        wait_answer(clean, "was just escalated by @alice (level 1)")
    finally:
        requests.post(f"{clean.sandbox.base_url}/sandbox/app", json={"usergroups": {}}, timeout=5)
    found = wait_details(alert_id, lambda d: True)
    assert [e["actor"] for e in found["audit"] if e["action"] == "escalation.escalated_now"] == [
        "@alice"
    ]


def test_silence_button_opens_a_modal_whose_submission_silences(
    web: TestClient, clean: Stack
) -> None:
    alert_id = fire(clean)
    url = response_url(clean)
    body = action_body(alert_id, "alert_silence", url=url)
    assert web.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    views = requests.get(f"{clean.sandbox.base_url}/sandbox/views", timeout=5).json()["views"]
    (view,) = views
    assert [b["block_id"] for b in view["blocks"]] == ["duration", "custom", "comment"]
    options = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert options == ["15m", "1h", "4h", "custom"]

    def submit(values: dict[str, Any]) -> Any:
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": "U123", "username": "alice", "team_id": TEAM},
            "view": {**view, "state": {"values": values}},
        }
        raw = urlencode({"payload": json.dumps(payload)}).encode()
        return web.post("/slack/interactions", content=raw, headers=signed(raw))

    bad = submit(
        {
            "duration": {
                "duration": {"type": "static_select", "selected_option": {"value": "custom"}}
            },
            "custom": {"custom": {"type": "plain_text_input", "value": "soonish"}},
        }
    )
    assert bad.status_code == 200 and bad.json()["response_action"] == "errors"
    assert "custom" in bad.json()["errors"]
    good = submit(
        {
            "duration": {
                "duration": {"type": "static_select", "selected_option": {"value": "custom"}}
            },
            "custom": {"custom": {"type": "plain_text_input", "value": "2h30m"}},
            "comment": {"comment": {"type": "plain_text_input", "value": "disk swap"}},
        }
    )
    assert good.status_code == 200
    wait_answer(clean, f"You silenced alert {alert_id[:8]} until")
    wait_for(
        lambda: "Silenced for 2h30m by @alice" in str(clean.sandbox.messages(CHANNEL)[0]),
        what="the message says it was silenced",
    )
    found = wait_details(alert_id, lambda d: True)
    (created,) = [e for e in found["audit"] if e["action"] == "silence.created"]
    assert created["actor"] == "@alice"


def test_resolution_note_shortcut_stores_the_thread_message(web: TestClient, clean: Stack) -> None:
    alert_id = fire(clean)
    root = clean.sandbox.messages(CHANNEL)[0]
    payload = {
        "type": "message_action",
        "callback_id": "add_resolution_note",
        "team": {"id": TEAM},
        "user": {"id": "U123", "username": "alice", "team_id": TEAM},
        "channel": {"id": root["channel_id"], "name": "w-alerts"},
        "message": {"ts": "1.000001", "thread_ts": root["ts"], "text": "Rotated the logs; fine"},
        "response_url": response_url(clean),
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert web.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    wait_answer(clean, f"Resolution note stored on alert {alert_id[:8]}.")
    assert command(web, clean, f"show {alert_id[:8]}") == 200
    assert "Rotated the logs; fine" in wait_answer(clean, "Resolution note by @alice")


def test_commands_endpoint_refuses_forged_stale_and_replayed(web: TestClient, clean: Stack) -> None:
    alert_id = fire(clean)
    url = response_url(clean)
    body = command_body(f"ack {alert_id[:8]}", url=url)
    forged = web.post("/slack/commands", content=body, headers=signed(body, secret="nope"))
    stale = web.post("/slack/commands", content=body, headers=signed(body, age=5 * 60 + 5))
    assert forged.status_code == 401 and stale.status_code == 401
    headers = signed(body)
    assert web.post("/slack/commands", content=body, headers=headers).status_code == 200
    assert web.post("/slack/commands", content=body, headers=headers).status_code == 401
    wait_for(lambda: answers(clean), what="the one accepted command's answer")
    time.sleep(1.0)  # anything else queued would have run by now
    found = wait_details(alert_id, lambda d: True)
    assert [e["action"] for e in found["audit"]].count("chatops.command") == 1

    other = command_body("list", url=url, team="T0NOBODY")
    assert web.post("/slack/commands", content=other, headers=signed(other)).status_code == 404


def test_slack_retries_change_nothing_twice(web: TestClient, clean: Stack) -> None:
    alert_id = fire(clean)
    body = action_body(alert_id, "alert_acknowledge", url=response_url(clean))
    assert web.post("/slack/interactions", content=body, headers=signed(body)).status_code == 200
    # Slack re-signs the same body when it retries.
    time.sleep(1.1)
    retry = web.post("/slack/interactions", content=body, headers=signed(body, retry=1))
    assert retry.status_code == 200
    wait_answer(clean, f"You acknowledged alert {alert_id[:8]}")
    time.sleep(1.0)
    assert len([a for a in answers(clean) if alert_id[:8] in a]) == 1


def test_hostile_requests_get_400_or_401_never_500(web: TestClient, clean: Stack) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    now = str(int(time.time()))
    for endpoint in ("/slack/interactions", "/slack/commands"):
        for timestamp in ("abc", "9" * 5000, "-1", ""):
            resp = web.post(
                endpoint,
                content=b"payload=%7B%7D",
                headers={
                    **form,
                    "X-Slack-Request-Timestamp": timestamp,
                    "X-Slack-Signature": "v0=" + "0" * 64,
                },
            )
            assert resp.status_code in (400, 401), (endpoint, timestamp[:10], resp.status_code)
        raw = b"payload=\xff"
        unsigned = web.post(
            endpoint,
            content=raw,
            headers={
                **form,
                "X-Slack-Request-Timestamp": now,
                "X-Slack-Signature": "v0=" + "0" * 64,
            },
        )
        assert unsigned.status_code in (400, 401)
        resp = web.post(endpoint, content=raw, headers={**form, "X-Slack-Request-Timestamp": now})
        assert resp.status_code in (400, 401)
    # Validly signed, but nested 100 000 levels deep, or a 5 000-digit number.
    for text in ("[" * 100_000 + "]" * 100_000, '{"type": ' + "9" * 5000 + "}", "[1, 2]"):
        body = urlencode({"payload": text}).encode()
        resp = web.post("/slack/interactions", content=body, headers=signed(body))
        assert resp.status_code == 400, resp.text
        assert "payload" in resp.json()["error"]
