"""The Slack sandbox speaks Slack's HTTP, enforces its limits and records what it saw."""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError

from alerting.slack.sandbox import MAX_BLOCKS, MAX_HEADER_TEXT, channel_id_for, create_app

AUTH = {"Authorization": "Bearer xoxb-test"}
HOOK = "/services/T000/B000/XXXX"


def client(**options: Any) -> TestClient:
    return TestClient(create_app(**options))


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def post_api(c: TestClient, method: str, **args: Any) -> dict[str, Any]:
    response = c.post(f"/api/{method}", json=args, headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def serve(app: FastAPI) -> Iterator[int]:
    """Run ``app`` under uvicorn on a free port in a background thread."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# --- incoming webhooks ---


def test_webhook_posts_to_general_unless_payload_names_a_channel() -> None:
    c = client()
    first = c.post(HOOK, json={"text": "hello"})
    assert (first.status_code, first.text) == (200, "ok")
    assert first.headers["content-type"].startswith("text/plain")
    assert c.post(HOOK, json={"text": "elsewhere", "channel": "#ops"}).text == "ok"

    messages = c.get("/sandbox/messages").json()
    assert [(m["channel"], m["text"], m["via"]) for m in messages] == [
        ("#general", "hello", "webhook"),
        ("#ops", "elsewhere", "webhook"),
    ]
    assert messages[0]["webhook_path"] == "T000/B000/XXXX"
    assert messages[1]["channel_id"] == channel_id_for("#ops")
    assert [m["text"] for m in c.get("/sandbox/messages", params={"channel": "#ops"}).json()] == [
        "elsewhere"
    ]


def test_webhook_without_text_or_blocks_is_no_text() -> None:
    c = client()
    for payload in ({}, {"text": ""}, {"text": "  ", "blocks": []}):
        response = c.post(HOOK, json=payload)
        assert (response.status_code, response.text) == (400, "no_text")
    # Attachments alone are a message.
    assert c.post(HOOK, json={"attachments": [{"text": "a", "color": "danger"}]}).text == "ok"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "x", "blocks": [section("b")] * (MAX_BLOCKS + 1)},
        {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
        {"blocks": [section("s" * 3001)]},
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
        {"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}]},
        {"blocks": [{"type": "no_such_block"}]},
        {"blocks": [{"text": "no type"}]},
        {"blocks": "not a list"},
        {"text": "t" * 40_001},
        {"text": "x", "attachments": [{"blocks": [section("s" * 3001)]}]},
    ],
    ids=[
        "51-blocks",
        "long-header",
        "long-section",
        "11-fields",
        "long-field",
        "unknown-type",
        "no-type",
        "blocks-not-list",
        "long-text",
        "bad-attachment-blocks",
    ],
)
def test_webhook_refuses_invalid_content_as_invalid_payload(payload: dict[str, Any]) -> None:
    c = client(rate_limit=False)
    response = c.post(HOOK, json=payload)
    assert (response.status_code, response.text) == (400, "invalid_payload")
    assert c.get("/sandbox/stats").json()["messages"] == 0


def test_webhook_accepts_content_at_the_limits() -> None:
    c = client(rate_limit=False)
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * MAX_HEADER_TEXT}}
    fields = [{"type": "mrkdwn", "text": "f" * 2000}] * 10
    blocks = [header, {"type": "section", "fields": fields}] + [section("s" * 3000)] * 48
    assert c.post(HOOK, json={"text": "t" * 40_000, "blocks": blocks}).text == "ok"


def test_webhook_refuses_a_body_that_is_not_json() -> None:
    c = client()
    response = c.post(HOOK, content=b"{not json", headers={"content-type": "application/json"})
    assert (response.status_code, response.text) == (400, "invalid_payload")
    # Legacy form-encoded payload= bodies still work.
    form = c.post(HOOK, data={"payload": json.dumps({"text": "legacy"})})
    assert form.text == "ok"


def test_webhook_channel_states_and_revoked_hooks() -> None:
    c = client(rate_limit=False)
    c.post("/sandbox/channels", json={"channel": "#gone", "state": "missing"})
    c.post("/sandbox/channels", json={"channel": "old", "state": "archived"})
    c.post("/sandbox/webhooks/revoke", json={"path": "T000/B000/DEAD"})

    gone = c.post(HOOK, json={"text": "x", "channel": "#gone"})
    assert (gone.status_code, gone.text) == (404, "channel_not_found")
    old = c.post(HOOK, json={"text": "x", "channel": "#old"})
    assert (old.status_code, old.text) == (410, "channel_is_archived")
    dead = c.post("/services/T000/B000/DEAD", json={"text": "x"})
    assert (dead.status_code, dead.text) == (404, "no_service")

    c.post("/sandbox/channels", json={"channel": "#old", "state": "ok"})
    assert c.post(HOOK, json={"text": "x", "channel": "#old"}).text == "ok"
    assert c.get("/sandbox/stats").json()["per_channel"] == {"#old": 1}


def test_rate_limit_is_per_channel_with_retry_after() -> None:
    c = client()  # 1 message per second per channel, burst 1
    assert c.post(HOOK, json={"text": "1", "channel": "#a"}).status_code == 200
    limited = c.post(HOOK, json={"text": "2", "channel": "#a"})
    assert (limited.status_code, limited.text) == (429, "rate_limited")
    assert limited.headers["Retry-After"] == "1"
    assert c.post(HOOK, json={"text": "3", "channel": "#b"}).status_code == 200

    api = c.post("/api/chat.postMessage", json={"channel": "#a", "text": "4"}, headers=AUTH)
    assert api.status_code == 429
    assert api.headers["Retry-After"] == "1"
    assert api.json() == {"ok": False, "error": "ratelimited"}

    stats = c.get("/sandbox/stats").json()
    assert stats["rate_limited"] == {"#a": 2}
    assert stats["per_channel"] == {"#a": 1, "#b": 1}

    time.sleep(1.05)
    assert c.post(HOOK, json={"text": "5", "channel": "#a"}).status_code == 200


def test_rate_limit_burst_and_retry_after_rounds_up() -> None:
    c = client(burst=3, per_second=0.25)
    statuses = [c.post(HOOK, json={"text": str(i)}).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert c.post(HOOK, json={"text": "again"}).headers["Retry-After"] == "4"


def test_rate_limit_off_accepts_everything() -> None:
    c = client(rate_limit=False)
    assert all(c.post(HOOK, json={"text": str(i)}).status_code == 200 for i in range(20))
    stats = c.get("/sandbox/stats").json()
    assert stats["per_channel"] == {"#general": 20}
    assert stats["max_rate_per_channel"]["#general"] == 20

    # ...and it can be switched back on at run time.
    assert c.post("/sandbox/config", json={"rate_limit": True, "burst": 2}).json()["ok"]
    statuses = [c.post(HOOK, json={"text": str(i)}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]


def test_stats_max_rate_is_highest_one_second_window() -> None:
    c = client(burst=1, per_second=1.0)
    for _ in range(3):
        c.post(HOOK, json={"text": "x", "channel": "#slow"})
    assert c.get("/sandbox/stats").json()["max_rate_per_channel"] == {"#slow": 1}

    c.post("/sandbox/config", json={"rate_limit": False})
    for _ in range(5):
        c.post(HOOK, json={"text": "x", "channel": "#fast"})
    stats = c.get("/sandbox/stats").json()
    assert stats["max_rate_per_channel"] == {"#fast": 5, "#slow": 1}
    assert stats["messages"] == 6


# --- Web API ---


def test_post_message_returns_channel_id_and_increasing_ts() -> None:
    c = client(rate_limit=False)
    first = post_api(c, "chat.postMessage", channel="#alerts", text="one")
    second = post_api(c, "chat.postMessage", channel="alerts", text="two")
    assert first["ok"] and second["ok"]
    assert first["channel"] == second["channel"] == channel_id_for("#alerts")
    assert first["channel"].startswith("C") and len(first["channel"]) == 9
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "one"
    # The returned ID works as a channel too.
    third = post_api(c, "chat.postMessage", channel=first["channel"], text="three")
    assert third["channel"] == first["channel"]
    assert c.get("/sandbox/stats").json()["per_channel"] == {"#alerts": 3}


def test_post_message_form_encoded_with_json_string_blocks() -> None:
    c = client()
    response = c.post(
        "/api/chat.postMessage",
        data={"channel": "#form", "text": "fallback", "blocks": json.dumps([section("*hi*")])},
        headers=AUTH,
    )
    body = response.json()
    assert body["ok"], body
    [message] = c.get("/sandbox/messages", params={"channel": "#form"}).json()
    assert message["blocks"] == [section("*hi*")]
    assert message["via"] == "api"


def test_post_message_errors() -> None:
    c = client(rate_limit=False)
    c.post("/sandbox/channels", json={"channel": "#gone", "state": "missing"})
    c.post("/sandbox/channels", json={"channel": "#old", "state": "archived"})
    c.post("/sandbox/channels", json={"channel": "#private", "state": "not_in_channel"})
    cases: dict[str, dict[str, Any]] = {
        "channel_not_found": {"channel": "#gone", "text": "x"},
        "is_archived": {"channel": "#old", "text": "x"},
        "not_in_channel": {"channel": "#private", "text": "x"},
        "no_text": {"channel": "#ok", "text": ""},
        "invalid_blocks": {"channel": "#ok", "blocks": [section("b")] * 51},
        "msg_too_long": {"channel": "#ok", "text": "t" * 40_001},
        "thread_not_found": {"channel": "#ok", "text": "x", "thread_ts": "1.000001"},
    }
    for error, args in cases.items():
        body = post_api(c, "chat.postMessage", **args)
        assert body["ok"] is False and body["error"] == error, (error, body)
    missing = post_api(c, "chat.postMessage", text="x")
    assert missing["error"] == "channel_not_found"
    unknown_id = post_api(c, "chat.postMessage", channel="C99999999", text="x")
    assert unknown_id["error"] == "channel_not_found"
    assert c.get("/sandbox/stats").json()["messages"] == 0


def test_auth_is_required() -> None:
    c = client(valid_tokens=frozenset({"xoxb-good"}))
    args = {"channel": "#a", "text": "x"}
    none = c.post("/api/chat.postMessage", json=args)
    assert none.status_code == 200 and none.json() == {"ok": False, "error": "not_authed"}
    bad = c.post("/api/chat.postMessage", json=args, headers=AUTH)
    assert bad.json() == {"ok": False, "error": "invalid_auth"}
    good = c.post("/api/chat.postMessage", json=args, headers={"Authorization": "Bearer xoxb-good"})
    assert good.json()["ok"] is True

    who = c.post("/api/auth.test", headers={"Authorization": "Bearer xoxb-good"}).json()
    assert who["ok"] and who["team_id"] and who["user_id"]
    assert c.post("/api/auth.test", headers=AUTH).json()["error"] == "invalid_auth"
    # Without valid_tokens any non-empty token passes.
    assert post_api(client(), "auth.test")["ok"] is True


def test_thread_replies_and_history() -> None:
    c = client(rate_limit=False)
    meta = {"event_type": "alert", "event_payload": {"fingerprint": "fp-1"}}
    parent = post_api(c, "chat.postMessage", channel="#a", text="parent", metadata=meta)
    reply = post_api(c, "chat.postMessage", channel="#a", text="reply", thread_ts=parent["ts"])
    assert reply["ok"] and reply["message"]["thread_ts"] == parent["ts"]
    # A reply to a reply lands in the parent's thread.
    nested = post_api(c, "chat.postMessage", channel="#a", text="more", thread_ts=reply["ts"])
    assert nested["message"]["thread_ts"] == parent["ts"]
    later = post_api(c, "chat.postMessage", channel="#a", text="later")
    # The thread lives in #a only.
    other = post_api(c, "chat.postMessage", channel="#b", text="x", thread_ts=parent["ts"])
    assert other["error"] == "thread_not_found"

    history = post_api(c, "conversations.history", channel="#a", include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["later", "parent"]
    assert history["messages"][1]["metadata"] == meta
    assert history["messages"][1]["reply_count"] == 2
    plain = post_api(c, "conversations.history", channel=later["channel"], limit=1)
    assert [m["text"] for m in plain["messages"]] == ["later"]
    assert plain["has_more"] is True
    assert "metadata" not in plain["messages"][0]

    bad = post_api(c, "chat.postMessage", channel="#a", text="x", metadata={"nope": 1})
    assert bad["error"] == "invalid_metadata_format"


def test_chat_update_edits_in_place() -> None:
    c = client(rate_limit=False)
    posted = post_api(c, "chat.postMessage", channel="#a", text="firing", blocks=[section("v1")])
    updated = post_api(
        c, "chat.update", channel=posted["channel"], ts=posted["ts"], text="resolved"
    )
    assert updated["ok"] and updated["ts"] == posted["ts"]
    again = post_api(c, "chat.update", channel="#a", ts=posted["ts"], blocks=[section("v3")])
    assert again["ok"]

    [message] = c.get("/sandbox/messages").json()
    assert message["edits"] == 2
    assert message["text"] == "resolved"
    # Omitted blocks are kept, as in Slack; given ones replace.
    assert message["blocks"] == [section("v3")]
    assert [h["text"] for h in message["history"]] == ["firing", "resolved"]
    assert message["history"][0]["blocks"] == [section("v1")]

    missing = post_api(c, "chat.update", channel="#a", ts="1.000001", text="x")
    assert missing["error"] == "message_not_found"
    invalid = post_api(c, "chat.update", channel="#a", ts=posted["ts"], blocks=[{"type": "?"}])
    assert invalid["error"] == "invalid_blocks"
    assert post_api(c, "chat.update", channel="#a", ts=posted["ts"])["error"] == "no_text"
    assert c.get("/sandbox/stats").json()["edits"] == 2


def test_unknown_method() -> None:
    assert post_api(client(), "users.list")["error"] == "unknown_method"


# --- faults and control API ---


def test_faults_are_answered_in_order_then_normal_behaviour_resumes() -> None:
    c = client(rate_limit=False)
    c.post(
        "/sandbox/faults",
        json={"channel": "#f", "responses": [500, 503, 429], "retry_after": 2},
    )
    payload = {"text": "x", "channel": "#f"}
    first = c.post(HOOK, json=payload)
    assert (first.status_code, first.text) == (500, "internal_error")
    second = c.post("/api/chat.postMessage", json=payload, headers=AUTH)
    assert (second.status_code, second.text) == (503, "service_unavailable")
    third = c.post(HOOK, json=payload)
    assert (third.status_code, third.text, third.headers["Retry-After"]) == (
        429,
        "rate_limited",
        "2",
    )
    assert c.post(HOOK, json=payload).status_code == 200
    # Other channels were never affected.
    assert c.post(HOOK, json={"text": "y", "channel": "#g"}).status_code == 200

    log = c.get("/sandbox/requests", params={"channel": "#f"}).json()
    assert [(r["status"], r["fault"]) for r in log] == [
        (500, True),
        (503, True),
        (429, True),
        (200, False),
    ]
    assert [r["endpoint"] for r in log] == ["webhook", "chat.postMessage", "webhook", "webhook"]
    assert all(a["received_at"] <= b["received_at"] for a, b in itertools.pairwise(log))
    stats = c.get("/sandbox/stats").json()
    assert stats["per_channel"] == {"#f": 1, "#g": 1}
    assert stats["rate_limited"] == {"#f": 1}


def test_hold_without_disconnect_still_records() -> None:
    c = client()
    c.post("/sandbox/faults", json={"channel": "#h", "hold_seconds": 0.2, "count": 1})
    started = time.monotonic()
    assert c.post(HOOK, json={"text": "slow", "channel": "#h"}).text == "ok"
    assert time.monotonic() - started >= 0.2
    [entry] = c.get("/sandbox/requests", params={"channel": "#h"}).json()
    assert entry["held_seconds"] == pytest.approx(0.2)
    assert c.get("/sandbox/stats").json()["per_channel"] == {"#h": 1}


def test_hold_then_client_disconnect_is_not_recorded() -> None:
    app = create_app(rate_limit=False)
    with serve(app) as port:
        base = f"http://127.0.0.1:{port}"
        httpx.post(
            f"{base}/sandbox/faults", json={"channel": "#held", "hold_seconds": 1.0, "count": 1}
        ).raise_for_status()
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{base}{HOOK}", json={"text": "lost", "channel": "#held"}, timeout=0.2)

        deadline = time.monotonic() + 5
        log: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            log = httpx.get(f"{base}/sandbox/requests", params={"channel": "#held"}).json()
            if log:
                break
            time.sleep(0.05)
        assert [(r["outcome"], r["status"]) for r in log] == [("abandoned", None)]
        stats = httpx.get(f"{base}/sandbox/stats").json()
        assert stats["messages"] == 0
        assert stats["abandoned"] == {"#held": 1}

        # Only `count` requests were held; the retry goes through.
        retry = httpx.post(f"{base}{HOOK}", json={"text": "retry", "channel": "#held"})
        assert (retry.status_code, retry.text) == (200, "ok")
        messages = httpx.get(f"{base}/sandbox/messages").json()
        assert [m["text"] for m in messages] == ["retry"]


def test_reset_clears_state_but_keeps_config() -> None:
    c = client(rate_limit=False)
    c.post(HOOK, json={"text": "x"})
    c.post("/sandbox/channels", json={"channel": "#gone", "state": "missing"})
    c.post("/sandbox/faults", json={"channel": "#general", "responses": [500]})
    assert c.post("/sandbox/reset").json() == {"ok": True}
    assert c.get("/sandbox/messages").json() == []
    assert c.get("/sandbox/requests").json() == []
    assert c.post(HOOK, json={"text": "x", "channel": "#gone"}).status_code == 200
    assert c.post(HOOK, json={"text": "x"}).status_code == 200
    assert c.get("/sandbox/config").json()["rate_limit"] is False


def test_control_api_validates_its_input() -> None:
    c = client()
    assert c.post("/sandbox/config", json={"burst": 0}).status_code == 422
    assert c.post("/sandbox/channels", json={"channel": "#a", "state": "odd"}).status_code == 422
    assert c.post("/sandbox/faults", json={"channel": "#a", "responses": [200]}).status_code == 422
    with pytest.raises(ValueError, match="burst"):
        create_app(burst=0)


def test_apps_do_not_share_state() -> None:
    one, two = client(), client()
    one.post(HOOK, json={"text": "x"})
    assert two.get("/sandbox/stats").json()["messages"] == 0
    assert two.post(HOOK, json={"text": "x"}).status_code == 200


# --- HTML view ---


def test_html_page_lists_channels_and_escapes_everything() -> None:
    c = client(rate_limit=False)
    c.post(HOOK, json={"text": "<script>alert(1)</script>", "channel": "#web"})
    parent = post_api(
        c,
        "chat.postMessage",
        channel="#web",
        text="fallback",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "Disk <full>"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*host* db-1"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "tenant acme"}]},
        ],
        attachments=[{"color": "danger", "text": "red bar"}, {"color": "red;x:y", "text": "t"}],
    )
    post_api(c, "chat.postMessage", channel="#web", text="threaded reply", thread_ts=parent["ts"])
    post_api(c, "chat.update", channel="#web", ts=parent["ts"], text="edited fallback")

    response = c.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Disk &lt;full&gt;" in page
    assert "*host* db-1" in page and "tenant acme" in page
    assert 'http-equiv="refresh" content="2"' in page
    assert "#e01e5a" in page and "red;x:y" not in page
    assert "edited 1 times" in page
    # Replies sit inside their parent's block, after it.
    assert page.index("edited fallback") < page.index("threaded reply")
    assert page.index('class="replies"') < page.index("threaded reply")


def test_healthz() -> None:
    assert client().get("/healthz").json() == {"ok": True}


# --- real slack_sdk clients against a running sandbox ---


def test_slack_sdk_clients_against_running_sandbox() -> None:
    with serve(create_app()) as port:
        base = f"http://127.0.0.1:{port}"
        webhook = WebhookClient(f"{base}/services/T1/B1/abc")
        sent = webhook.send(text="from sdk", blocks=[section("*block*")])
        assert (sent.status_code, sent.body) == (200, "ok")

        web = WebClient(token="xoxb-test", base_url=f"{base}/api/", retry_handlers=[])
        posted = web.chat_postMessage(channel="#a", text="hi")
        assert posted["ok"] and posted["channel"] == channel_id_for("#a")
        assert web.auth_test()["ok"]

        with pytest.raises(SlackApiError) as caught:
            web.chat_postMessage(channel="#a", text="too soon")
        assert caught.value.response.status_code == 429
        assert caught.value.response["error"] == "ratelimited"
        assert int(caught.value.response.headers["Retry-After"]) >= 1

        updated = web.chat_update(channel=posted["channel"], ts=posted["ts"], text="hi again")
        assert updated["ok"]
        history = web.conversations_history(channel=posted["channel"], include_all_metadata=True)
        assert [m["text"] for m in history["messages"]] == ["hi again"]

        messages = httpx.get(f"{base}/sandbox/messages").json()
        assert [(m["channel"], m["text"]) for m in messages] == [
            ("#general", "from sdk"),
            ("#a", "hi again"),
        ]
