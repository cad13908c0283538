"""Delivery under failure: retries, Retry-After, permanent errors, fallbacks, dead workers."""

from __future__ import annotations

import itertools
import os
import signal
import time
from typing import Any

import pytest

from alerting import send_alert
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, details, states, wait_details


def _audit(found: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [entry["detail"] for entry in found["audit"] if entry["action"] == action]


def test_server_errors_are_retried_with_growing_countdowns(clean: Stack) -> None:
    clean.sandbox.fault("#b-alerts", responses=[500, 503, 502])
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, all_sent, timeout=30, what="sent after three 5xx")
    retries = _audit(found, "notification.retry")
    assert [r["status"] for r in retries] == [500, 503, 502]
    ceilings = [r["ceiling"] for r in retries]
    assert ceilings == sorted(ceilings) and ceilings[0] < ceilings[-1], ceilings
    assert all(0 < r["countdown"] <= r["ceiling"] for r in retries)
    # The sandbox saw each attempt no sooner than the countdown the worker chose.
    seen = [r["received_at"] for r in clean.sandbox.requests("#b-alerts")]
    assert len(seen) == 4
    for gap, retry in zip((b - a for a, b in itertools.pairwise(seen)), retries, strict=True):
        assert gap >= retry["countdown"] - 0.05
    assert len(clean.sandbox.messages("#b-alerts")) == 1


def test_rate_limit_waits_exactly_retry_after(clean: Stack) -> None:
    clean.sandbox.fault("#b-alerts", responses=[429], retry_after=2)
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, all_sent, timeout=20)
    (retry,) = _audit(found, "notification.retry")
    assert retry["reason"] == "rate_limited" and retry["countdown"] == 2.0
    first, second = (r["received_at"] for r in clean.sandbox.requests("#b-alerts"))
    assert second - first >= 2.0
    assert found["notifications"][0]["attempts"] == 1, "a 429 does not use up an attempt"


def test_slack_limit_of_one_message_per_second_is_honoured(clean: Stack) -> None:
    ids = [
        send_alert.delay(tenant_id="tenant-b", alert_type=f"t{i}", severity="info", message="m").id
        for i in range(4)
    ]
    for event_id in ids:
        wait_details(event_id, all_sent, timeout=30)
    stats = clean.sandbox.stats()
    assert stats["per_channel"]["#b-alerts"] == 4
    assert stats["max_rate_per_channel"]["#b-alerts"] <= 1
    # The workers spaced them out themselves: Slack never had to say 429.
    assert stats["rate_limited"] == {}


def test_client_error_is_dead_with_slacks_reason(clean: Stack) -> None:
    clean.sandbox.channel_state("#b-alerts", "archived")
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, lambda d: states(d) == {"#b-alerts": "dead"})
    (note,) = found["notifications"]
    assert note["last_error"] == "channel_is_archived"
    assert note["attempts"] == 1, "permanent errors are not retried"
    assert _audit(found, "notification.dead")[0]["reason"] == "channel_is_archived"


def test_missing_channel_goes_to_the_fallback_channel(clean: Stack) -> None:
    clean.sandbox.channel_state("#a-alerts", "missing")
    result = send_alert.delay(tenant_id="tenant-a", alert_type="x", severity="error", message="m")
    found = wait_details(
        result.id, lambda d: states(d) == {"#a-alerts": "rerouted", "#a-fallback": "sent"}
    )
    (message,) = clean.sandbox.messages("#a-fallback")
    assert "#a-alerts" in str(message["blocks"]) and "channel_not_found" in str(message["blocks"])
    assert _audit(found, "notification.rerouted")[0]["fallback"] == "#a-fallback"


def test_follow_ups_of_a_rerouted_alert_go_where_it_was_announced(clean: Stack) -> None:
    from alerting import SyncSlackAlertManager

    clean.sandbox.configure(rate_limit=False)
    clean.sandbox.channel_state("#a-alerts", "missing")
    result = send_alert.delay(tenant_id="tenant-a", alert_type="x", severity="error", message="m")
    wait_details(result.id, lambda d: states(d) == {"#a-alerts": "rerouted", "#a-fallback": "sent"})
    SyncSlackAlertManager().acknowledge(result.id, by="alice")
    found = wait_details(
        result.id,
        lambda d: any(
            n["kind"] == "acknowledged" and n["state"] == "sent" for n in d["notifications"]
        ),
    )
    acks = [n for n in found["notifications"] if n["kind"] == "acknowledged"]
    assert [(n["channel"], n["state"]) for n in acks] == [("#a-fallback", "sent")]
    assert len(clean.sandbox.messages("#a-fallback")) == 2


@pytest.mark.broker
def test_network_failures_end_dead_after_the_attempt_limit(clean: Stack) -> None:
    clean.sandbox.fault("#b-alerts", responses=[500] * 10)
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, lambda d: states(d) == {"#b-alerts": "dead"}, timeout=40)
    (note,) = found["notifications"]
    assert note["attempts"] == 4
    assert note["last_error"].startswith("gave up after 4 attempts")


def test_redelivered_delivery_of_a_sent_notification_posts_nothing(clean: Stack) -> None:
    from workers.app import app

    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, all_sent)
    (note,) = found["notifications"]
    for _ in range(3):
        app.send_task(
            "alerting.deliver", kwargs={"tenant_id": "tenant-b", "notification_id": note["id"]}
        )
    time.sleep(2.0)
    assert len(clean.sandbox.messages("#b-alerts")) == 1


def _pool_children(worker_pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == worker_pid:
                out.append(int(entry))
    return out


@pytest.mark.broker
def test_worker_process_killed_mid_delivery_loses_nothing_and_posts_once(clean: Stack) -> None:
    assert clean.worker.proc is not None
    clean.sandbox.fault("#b-alerts", hold_seconds=2.0, count=1)
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    wait_for(
        lambda: clean.sandbox.stats()["holding"].get("#b-alerts"),
        what="the delivery request in flight",
    )
    # The request is held by Slack; kill every pool process (one of them is posting it).
    children = _pool_children(clean.worker.proc.pid)
    assert children, "prefork pool children"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    found = wait_details(result.id, all_sent, timeout=40, what="delivery after the kill")
    wait_for(lambda: not clean.sandbox.stats()["holding"], what="the held request to end")
    assert len(clean.sandbox.messages("#b-alerts")) == 1
    outcomes = sorted(r["outcome"] for r in clean.sandbox.requests("#b-alerts"))
    assert outcomes == ["abandoned", "ok"]
    assert found["notifications"][0]["attempts"] == 2, "the redelivered task resumed its claim"


def test_work_stuck_between_commit_and_broker_is_swept(clean: Stack) -> None:
    """Ingest committed but the route message never reached Redis (Redis was down)."""
    import uuid

    from alerting.db.session import session_scope
    from alerting.domain.events import validate_event
    from alerting.pipeline.ingest import ingest_event
    from workers.app import app

    event = validate_event(
        {"tenant_id": "tenant-b", "alert_type": "x", "severity": "error", "message": "lost?"}
    )
    event_id = uuid.uuid4()
    with session_scope() as session:
        ingest_event(session, event, event_id=event_id)
    time.sleep(2.5)
    assert details(str(event_id))["notifications"] == []  # type: ignore[index]
    app.send_task("alerting.sweep")
    found = wait_details(str(event_id), all_sent, what="the swept event delivered")
    assert len(clean.sandbox.messages("#b-alerts")) == 1
    assert found["alert"]["message"] == "lost?"


def test_database_connections_dropped_under_the_worker_lose_nothing(clean: Stack) -> None:
    """As after a Postgres restart: every pooled connection of the worker is dead."""
    from sqlalchemy import text

    from alerting.db.session import session_scope

    first = send_alert.delay(tenant_id="tenant-b", alert_type="warm", severity="info", message="m")
    wait_details(first.id, all_sent)
    with session_scope() as session:
        killed = session.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert killed >= 1
    clean.sandbox.configure(rate_limit=False)
    ids = [
        send_alert.delay(tenant_id="tenant-b", alert_type=f"t{i}", severity="info", message="m").id
        for i in range(5)
    ]
    for event_id in ids:
        wait_details(event_id, all_sent, timeout=30, what="delivery after the connections died")
    assert len(clean.sandbox.messages("#b-alerts")) == 6
