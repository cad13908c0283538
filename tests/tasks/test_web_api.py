"""Web API mode: one message per alert that changes with the incident, its story in a thread."""

from __future__ import annotations

import time
from typing import Any

from alerting import SyncSlackAlertManager, send_alert
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, wait_details


def _top_level(stack: Stack, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in stack.sandbox.messages(channel)
        if not m["thread_ts"] or m["thread_ts"] == m["ts"]
    ]


def _replies(stack: Stack, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in stack.sandbox.messages(channel) if m["thread_ts"] == ts and m["ts"] != ts]


def _texts(message: dict[str, Any]) -> list[str]:
    found = []
    for block in message["blocks"]:
        if block.get("text"):
            found.append(block["text"]["text"])
        found.extend(f["text"] for f in block.get("fields", []))
    return found


def _buttons(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for block in message["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
    ]


def test_one_message_per_alert_updated_in_place_with_its_story_in_the_thread(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    fields = dict(
        tenant_id="tenant-w", alert_type="service_down", severity="error", labels={"service": "api"}
    )
    first = send_alert.delay(**fields, message="api down").id
    found = wait_details(first, all_sent)
    (root,) = clean.sandbox.messages("#w-alerts")
    assert root["via"] == "api" and root["ts"] == found["notifications"][0]["slack_ts"]
    assert _buttons(root) == ["alert_acknowledge", "alert_resolve", "alert_silence_1h"]
    assert root["metadata"]["event_type"] == "alert_notification"

    for _ in range(3):
        send_alert.delay(**fields, message="api still down")
    wait_for(lambda: _replies(clean, "#w-alerts", root["ts"]), what="a repeat in the thread")
    wait_for(
        lambda: "*Count*\n4" in _texts(_top_level(clean, "#w-alerts")[0]),
        what="the root message to show the count of 4",
    )

    manager = SyncSlackAlertManager()
    manager.acknowledge(first, by="alice")
    wait_for(
        lambda: any(
            "Acknowledged by alice" in r["text"] for r in _replies(clean, "#w-alerts", root["ts"])
        ),
        what="the acknowledgement in the thread",
    )
    updated = _top_level(clean, "#w-alerts")[0]
    assert "Acknowledged by alice" in updated["text"]
    assert _buttons(updated) == ["alert_resolve", "alert_silence_1h"]

    manager.resolve(first, by="bob")
    wait_for(
        lambda: any(
            "Resolved by bob after" in r["text"] for r in _replies(clean, "#w-alerts", root["ts"])
        ),
        what="the resolution in the thread",
    )
    (final,) = _top_level(clean, "#w-alerts")
    assert final["ts"] == root["ts"], "still the one message"
    assert final["text"].startswith(":white_check_mark: Resolved")
    assert _buttons(final) == [] and final["edits"] >= 3
    assert clean.sandbox.stats()["per_channel"]["#w-alerts"] >= 3


def test_a_critical_alert_firing_again_after_resolution_answers_in_the_old_thread(
    clean: Stack,
) -> None:
    clean.sandbox.configure(rate_limit=False)
    fields = dict(
        tenant_id="tenant-w", alert_type="disk_full", severity="critical", labels={"host": "db-1"}
    )
    first = send_alert.delay(**fields, message="disk 99%").id
    wait_details(first, all_sent)
    root = _top_level(clean, "#w-alerts")[0]
    SyncSlackAlertManager().resolve(first, by="carol")
    wait_for(lambda: len(_replies(clean, "#w-alerts", root["ts"])) == 1, what="the resolution")
    again = send_alert.delay(**fields, message="disk 99% again").id
    found = wait_details(again, all_sent)
    replies = _replies(clean, "#w-alerts", root["ts"])
    assert len(replies) == 2
    refired = replies[-1]
    assert refired["reply_broadcast"] is True and "disk 99% again" in refired["text"]
    assert found["alert"]["id"] != wait_details(first, all_sent)["alert"]["id"]
    # Its own follow-ups now update the re-fired message.
    SyncSlackAlertManager().acknowledge(again, by="dave")
    wait_for(
        lambda: any(
            m["ts"] == refired["ts"] and m["edits"] for m in clean.sandbox.messages("#w-alerts")
        ),
        what="the re-fired message updated in place",
    )


def test_a_deleted_message_is_posted_again(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    first = send_alert.delay(
        tenant_id="tenant-w", alert_type="x", severity="warning", message="m"
    ).id
    wait_details(first, all_sent)
    (original,) = clean.sandbox.messages("#w-alerts")
    clean.sandbox.delete_message("#w-alerts", original["ts"])
    SyncSlackAlertManager().acknowledge(first, by="erin")
    found = wait_details(first, lambda d: len(d["notifications"]) == 2 and all_sent(d))
    tops = _top_level(clean, "#w-alerts")
    assert len(tops) == 1 and "Acknowledged by erin" in tops[-1]["text"]
    assert found["notifications"][1]["slack_ts"] == tops[-1]["ts"]


def test_webhook_messages_carry_no_buttons(clean: Stack) -> None:
    first = send_alert.delay(
        tenant_id="tenant-b", alert_type="x", severity="warning", message="m"
    ).id
    wait_details(first, all_sent)
    (message,) = clean.sandbox.messages("#b-alerts")
    assert _buttons(message) == []
    time.sleep(0)


def _firing_then_known_channel(clean: Stack) -> None:
    """A first alert teaches the channel's id (history lookups need it)."""
    first = send_alert.delay(tenant_id="tenant-w", alert_type="warm", severity="info", message="m")
    wait_details(first.id, all_sent)


def test_a_post_whose_answer_never_came_is_not_posted_twice(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    _firing_then_known_channel(clean)
    # Slack records the post, then answers after the worker's 3 s timeout.
    clean.sandbox.fault("#w-alerts", answer_late_seconds=5.0, count=1)
    event_id = send_alert.delay(
        tenant_id="tenant-w", alert_type="x", severity="error", message="late"
    ).id
    found = wait_details(event_id, all_sent, timeout=30)
    (note,) = found["notifications"]
    assert note["attempts"] == 2 and [
        e["detail"]["reason"] for e in found["audit"] if e["action"] == "notification.retry"
    ] == ["timeout"]
    wait_for(lambda: not clean.sandbox.stats()["holding"], what="the late answer")
    posted = [m for m in clean.sandbox.messages("#w-alerts") if "late" in m["text"]]
    assert len(posted) == 1, "adopted from the channel's history, not posted again"
    assert posted[0]["ts"] == note["slack_ts"]


def test_worker_killed_after_slack_posted_does_not_post_twice(clean: Stack) -> None:
    import os
    import signal

    from tests.tasks.test_delivery import _pool_children

    assert clean.worker.proc is not None
    clean.sandbox.configure(rate_limit=False)
    _firing_then_known_channel(clean)
    clean.sandbox.fault("#w-alerts", answer_late_seconds=2.0, count=1)
    event_id = send_alert.delay(
        tenant_id="tenant-w", alert_type="x", severity="error", message="kill"
    ).id
    wait_for(lambda: clean.sandbox.stats()["holding"].get("#w-alerts"), what="the post in flight")
    for pid in _pool_children(clean.worker.proc.pid):
        os.kill(pid, signal.SIGKILL)
    found = wait_details(event_id, all_sent, timeout=40)
    wait_for(lambda: not clean.sandbox.stats()["holding"], what="the late answer")
    posted = [m for m in clean.sandbox.messages("#w-alerts") if "kill" in m["text"]]
    assert len(posted) == 1
    assert posted[0]["ts"] == found["notifications"][0]["slack_ts"]
