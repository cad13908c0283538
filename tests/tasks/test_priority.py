"""Under pressure, what matters first: the original design's tenant (rate_limit 10, no routing
tree) against the real worker and the sandbox, with Slack's rate limit on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import uuid
from collections import Counter
from typing import Any

import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.models import Alert, AlertGroupMember, Notification, SlackMessage
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import cli, wait_for
from tests.tasks.helpers import details, key_headers, wait_details

SEED = "spotify-tenant-1"
SEED_API = "spotify-tenant-w"
CHANNEL = "#alerts-prod"


def _fire(tenant: str, alert_type: str, severity: str, marker: str = "") -> str:
    return str(
        send_alert.delay(
            tenant_id=tenant,
            alert_type=alert_type,
            severity=severity,
            message=marker or f"{alert_type} is {severity}",
        ).id
    )


def _told_everywhere(found: dict[str, Any]) -> bool:
    """Every channel the alert was meant for has a Slack message telling it."""
    told = {m["channel"] for m in found["slack_messages"]}
    meant = {n["channel"] for n in found["notifications"] if n["kind"] == "firing"}
    return bool(found["slack_messages"]) and meant <= told


def _wait_all_told(event_ids: list[str], timeout: float = 240) -> list[dict[str, Any]]:
    return [
        wait_details(e, _told_everywhere, timeout=timeout, what="every alert told in Slack")
        for e in event_ids
    ]


def _folded_count(tenant: str) -> int:
    with session_scope() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.tenant_id == tenant, Notification.state == "folded")
            )
            or 0
        )


def _nothing_waiting(tenant: str) -> bool:
    with session_scope() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.tenant_id == tenant,
                Notification.state.in_(("pending", "sending", "retrying", "held")),
            )
        )
    return waiting == 0


def test_a_critical_overtakes_a_backlog_of_warnings(clean: Stack, flusher: None) -> None:
    warnings = [_fire(SEED, f"backlog_{i:02d}", "warning") for i in range(20)]
    critical = _fire(SEED, "payments_down", "critical", marker="payments are down")
    wait_details(
        critical,
        lambda d: any(m["channel"] == CHANNEL for m in d["slack_messages"]),
        timeout=60,
        what="the critical in #alerts-prod",
    )
    posted = clean.sandbox.messages(CHANNEL)
    position = next(i for i, m in enumerate(posted) if "payments are down" in json.dumps(m))
    # First come, first served would make it the 21st message; it takes the next free slot.
    assert position <= 4, [m["text"][:40] for m in posted]
    # Nothing is dropped: the backlog is told too (some of it folded into a digest).
    for found in _wait_all_told([*warnings, critical]):
        assert found["slack_messages"], found["alert"]["alert_type"]
        for message in found["slack_messages"]:
            assert message["ts"] is None, "webhooks have no ts"
            assert message["kind"] in {"alert", "digest"} and message["sent_at"]
    stats = clean.sandbox.stats()
    assert stats["rate_limited"] == {}, "the workers kept to Slack's limit"


def test_a_fold_under_pressure_is_one_digest_updated_in_place_and_is_undone_after(
    clean: Stack, flusher: None
) -> None:
    """Web API mode: the backlog folds into one digest message, rewritten as alerts join,
    members named in its thread, a folded alert's acknowledgement told there; once the
    pressure is gone a new alert gets a message of its own again."""

    def posted_digests() -> list[dict[str, Any]]:
        return [
            m
            for m in clean.sandbox.messages(CHANNEL)
            if m["thread_ts"] is None
            and (m["metadata"] or {}).get("event_payload", {}).get("kind") == "digest"
        ]

    fired = [_fire(SEED_API, f"storm_{i:02d}", "warning") for i in range(24)]
    wait_for(lambda: _folded_count(SEED_API) > 0, timeout=120, what="a fold")
    wait_for(posted_digests, timeout=120, what="the digest posted")
    # Alerts that fold once the digest is posted join it: its message is rewritten in place.
    fired += [_fire(SEED_API, f"storm_late_{i:02d}", "warning") for i in range(12)]
    found = _wait_all_told(fired)
    digests = posted_digests()
    assert len(digests) == 1, "one digest message for one episode of pressure"
    digest = digests[0]
    folded = [f for f in found if any(m["kind"] == "digest" for m in f["slack_messages"])]
    own = [f for f in found if any(m["kind"] == "alert" for m in f["slack_messages"])]
    assert folded and own and len(folded) + len(own) == len(fired), "each told one way"
    for f in folded:
        kinds = {(m["kind"], m["ts"]) for m in f["slack_messages"] if m["kind"] == "digest"}
        assert kinds == {("digest", digest["ts"])}
    assert digest["edits"] >= 1, "rewritten in place as alerts joined"
    # Listed members carry their alert id, so each can be looked up.
    assert any(f["alert"]["id"] in json.dumps(digest["blocks"]) for f in folded)

    def replies() -> list[dict[str, Any]]:
        return [m for m in clean.sandbox.messages(CHANNEL) if m["thread_ts"] == digest["ts"]]

    before = len(replies())

    target = folded[-1]["alert"]["id"]
    SyncSlackAlertManager().acknowledge(target, by="ops-anna")
    wait_for(
        lambda: any(":eyes:" in r["text"] for r in replies()[before:]),
        timeout=60,
        what="the acknowledgement told in the digest's thread",
    )
    acknowledged = details(target)
    assert acknowledged is not None
    assert all(n["kind"] != "acknowledged" for n in acknowledged["notifications"]), (
        "no message of its own for a folded alert's acknowledgement"
    )

    # The pressure goes: the line drains; the next alert's slot is near, so it is not folded.
    wait_for(lambda: _nothing_waiting(SEED_API), timeout=120, what="the line drained")
    broker = redis.Redis.from_url(clean.redis_url)
    assert list(broker.scan_iter("alerting:fold:*")), "the episode outlives the line"
    after = _fire(SEED_API, "calm_again", "warning")
    told = wait_details(after, _told_everywhere, timeout=60)
    assert [m["kind"] for m in told["slack_messages"]] == ["alert"]
    assert clean.sandbox.stats()["rate_limited"] == {}


def test_a_critical_is_never_folded_behind_warnings(clean: Stack, flusher: None) -> None:
    warnings = [_fire(SEED, f"noise_{i:02d}", "warning") for i in range(24)]
    wait_for(lambda: _folded_count(SEED) > 0, timeout=120, what="warnings folding")
    criticals = [_fire(SEED, f"outage_{i}", "critical") for i in range(2)]
    for found in _wait_all_told(criticals, timeout=120):
        prod = [m for m in found["slack_messages"] if m["channel"] == CHANNEL]
        assert [m["kind"] for m in prod] == ["alert"], "its own message, not a digest"
    _wait_all_told(warnings)


def test_a_worker_killed_mid_fold_loses_and_repeats_nothing(clean: Stack, flusher: None) -> None:
    from tests.tasks.test_delivery import _pool_children

    assert clean.worker.proc is not None
    # Web API mode: a post whose answer a killed process never heard is looked up in Slack
    # before posting again (with a webhook that window is at-least-once, as documented).
    fired = [_fire(SEED_API, f"kill_{i:02d}", "warning") for i in range(30)]
    stop = threading.Event()

    def kill_repeatedly() -> None:
        # Every pool process, several times while the line folds.
        for _ in range(4):
            if stop.wait(2.5):
                return
            for pid in _pool_children(clean.worker.proc.pid):  # type: ignore[union-attr]
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_repeatedly, daemon=True)
    killer.start()
    wait_for(lambda: _folded_count(SEED_API) > 0, timeout=120, what="a fold")
    found = _wait_all_told(fired, timeout=300)
    stop.set()
    killer.join(5)
    wait_for(lambda: _nothing_waiting(SEED_API), timeout=120, what="nothing left waiting")

    alert_ids = [uuid.UUID(f["alert"]["id"]) for f in found]
    with session_scope() as session:
        memberships = Counter(
            session.scalars(
                select(AlertGroupMember.alert_id).where(AlertGroupMember.alert_id.in_(alert_ids))
            )
        )
        own_posts = Counter(
            session.scalars(
                select(SlackMessage.alert_id).where(
                    SlackMessage.alert_id.in_(alert_ids), SlackMessage.kind == "alert"
                )
            )
        )
        stored = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.tenant_id == SEED_API)
        )
    assert stored == len(fired)
    for alert_id in alert_ids:
        # Folded once or posted once in the channel, never both, never twice.
        assert memberships[alert_id] + own_posts[alert_id] == 1, alert_id
    # Every message in the channel was posted once: no notification twice.
    posted = Counter(
        (m["metadata"] or {}).get("event_payload", {}).get("notification_id")
        for m in clean.sandbox.messages(CHANNEL)
        if m["thread_ts"] is None
    )
    assert posted and max(posted.values()) == 1, posted.most_common(3)


def test_a_critical_is_not_queued_behind_its_own_tenants_backlog(clean: Stack) -> None:
    """Critical events take the tenant's urgent lane, consumed before its normal queue."""
    from alerting.domain.events import validate_event
    from alerting.producer import publish_events

    clean.sandbox.configure(rate_limit=False)
    # tenant-a's grouped route: the backlog is told in digests only (no flush runs here).
    backlog = [
        validate_event(
            {
                "tenant_id": "tenant-a",
                "alert_type": "backlog",
                "severity": "info",
                "message": "m",
                "labels": {"grouped": "yes", "host": f"h{i}"},
            }
        )
        for i in range(200)
    ]
    publish_events(backlog)
    critical = _fire("tenant-a", "db_down", "critical")
    wait_details(critical, lambda d: d["alert"] is not None, timeout=60, what="the critical stored")

    def backlog_stored() -> bool:
        with session_scope() as session:
            count = session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(Alert.tenant_id == "tenant-a", Alert.alert_type == "backlog")
            )
        return count == len(backlog)

    wait_for(backlog_stored, timeout=100, what="the whole backlog stored")
    with session_scope() as session:
        critical_at = session.scalar(
            select(Alert.created_at).where(
                Alert.tenant_id == "tenant-a", Alert.alert_type == "db_down"
            )
        )
        after = session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.tenant_id == "tenant-a", Alert.created_at > critical_at)
        )
    # In one queue it would have come after all 200.
    assert (after or 0) >= 100, f"only {after} of the backlog were ingested after the critical"


def test_slack_messages_in_the_cli_and_the_http_alert_view(web: TestClient, clean: Stack) -> None:
    """Web API mode: the alert's own message, then its acknowledgement as an update of that
    message and a line in its thread; the CLI and the HTTP API show the same list."""
    fired = _fire("tenant-w", "disk_full", "error")
    found = wait_details(fired, _told_everywhere, timeout=30)
    SyncSlackAlertManager().acknowledge(found["alert"]["id"], by="ops")
    wait_details(fired, lambda d: len(d["slack_messages"]) >= 3, timeout=30)
    answer = web.get(f"/api/v1/alerts/{found['alert']['id']}", headers=key_headers("tenant-w"))
    assert answer.status_code == 200
    listed = answer.json()["slack_messages"]
    assert [m["kind"] for m in listed] == ["alert", "update", "thread_reply"]
    assert all(m["channel"] == "#w-alerts" and m["ts"] and m["sent_at"] for m in listed)
    assert listed[0]["ts"] == listed[1]["ts"], "the update rewrote the alert's own message"
    shown = subprocess.run(
        cli("alerts", "show", fired, "--json"), env=clean.env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["slack_messages"] == listed
