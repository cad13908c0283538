"""SlackRateLimiter: shared token buckets in Redis, the most urgent waiting message first,
tenants apart."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import redis

from alerting import send_alert
from alerting.domain.priority import Priority
from alerting.ratelimit import Grant, SlackRateLimiter
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, wait_details


def _limiter(stack: Stack, per_second: float = 1.0, burst: int = 1) -> SlackRateLimiter:
    return SlackRateLimiter(
        redis.Redis.from_url(stack.redis_url), channel_per_second=per_second, channel_burst=burst
    )


_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _ask(
    limiter: SlackRateLimiter,
    member: str,
    *,
    tenant: str = "tenant-x",
    channel: str = "#c",
    priority: int = Priority.INFO,
    age: int = 0,
    rate_limit: int = 6000,
) -> Grant:
    """Ask for a slot for ``member``; ``age`` orders members of one priority (older first)."""
    return limiter.acquire(
        tenant,
        channel,
        member=member,
        priority=priority,
        enqueued_at=_T0 + timedelta(seconds=age),
        rate_limit=rate_limit,
    )


def test_one_slot_per_channel_interval_and_a_line_behind_it(clean: Stack) -> None:
    limiter = _limiter(clean)
    assert _ask(limiter, "n1").granted
    waiting = [_ask(limiter, f"n{i}", age=i) for i in range(2, 6)]
    assert not any(w.granted for w in waiting)
    # Each one is told its place: one channel interval per message ahead of it.
    for before, after in itertools.pairwise(w.wait for w in waiting):
        assert 0.95 <= after - before <= 1.05, waiting
    # Another channel of the same tenant is not held up by that channel's line...
    assert _ask(limiter, "o1", channel="#other").granted
    # ...nor another tenant's channel of the same name.
    assert _ask(limiter, "y1", tenant="tenant-y").granted


def test_the_most_urgent_waiting_message_gets_the_next_slot(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=20.0)
    assert _ask(limiter, "first").granted
    # Three warnings wait, then an error and a critical arrive, newest of all.
    for i in range(3):
        assert not _ask(limiter, f"warning{i}", priority=Priority.WARNING, age=i).granted
    assert not _ask(limiter, "error", priority=Priority.ERROR, age=10).granted
    assert not _ask(limiter, "critical", priority=Priority.PAGE, age=11).granted
    order: list[str] = []
    pending = ["warning0", "warning1", "warning2", "error", "critical"]
    priorities = {"error": Priority.ERROR, "critical": Priority.PAGE}
    ages = {"warning0": 0, "warning1": 1, "warning2": 2, "error": 10, "critical": 11}
    while pending:
        time.sleep(0.06)
        for member in list(pending):
            turn = _ask(
                limiter,
                member,
                priority=priorities.get(member, Priority.WARNING),
                age=ages[member],
            )
            if turn.granted:
                order.append(member)
                pending.remove(member)
    assert order == ["critical", "error", "warning0", "warning1", "warning2"]


def test_the_tenant_bucket_is_as_deep_as_its_limit_and_spans_its_channels(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=100.0)
    # 6 messages a minute: a quiet tenant's burst of six goes at once, then one every 10 s.
    burst = [_ask(limiter, f"n{i}", channel=f"#c{i}", rate_limit=6) for i in range(6)]
    assert all(turn.granted for turn in burst)
    seventh = _ask(limiter, "n7", channel="#c7", rate_limit=6)
    assert not seventh.granted and 9.9 <= seventh.wait <= 10.05, seventh


def test_a_waiting_member_whose_task_is_lost_does_not_block_the_channel(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=20.0)
    assert _ask(limiter, "posted").granted
    assert not _ask(limiter, "lost", priority=Priority.PAGE).granted  # never asks again
    assert not _ask(limiter, "next", age=1).granted
    # Past its expected return and the grace period, the lost one is dropped from the line.
    wait_for(lambda: _ask(limiter, "next", age=1).granted, timeout=10, interval=0.2)


def test_updates_spend_their_own_budget_and_a_message_keeps_one_place(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=20.0)
    assert _ask(limiter, "posted", rate_limit=1).granted
    # The tenant's one post a minute is spent: a new message waits about a minute...
    waiting = _ask(limiter, "digest", age=1, rate_limit=1)
    assert not waiting.granted and waiting.wait > 30
    time.sleep(0.06)
    # ...but once its message exists it asks to update it, which the post budget does not
    # hold up, and its earlier place in line as a post does not block it.
    update = limiter.acquire(
        "tenant-x",
        "#c",
        member="digest",
        priority=Priority.INFO,
        enqueued_at=_T0 + timedelta(seconds=1),
        rate_limit=1,
        update=True,
    )
    assert update.granted and update.waiting == 0


def test_slots_are_shared_and_atomic_across_clients(clean: Stack) -> None:
    """Many workers asking at once never both get a slot within one channel interval."""
    granted: list[float] = []
    lock = threading.Lock()

    def ask(worker: int) -> None:
        limiter = _limiter(clean, per_second=10.0)
        for i in range(4):
            # Like a delivery task: the same message asks again until it is granted.
            while not _ask(limiter, f"w{worker}-{i}", age=i, rate_limit=100_000).granted:
                time.sleep(0.02)
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=ask, args=(w,)) for w in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gaps = [after - before for before, after in itertools.pairwise(sorted(granted))]
    assert len(granted) == 20 and min(gaps) >= 0.08, min(gaps)


def test_a_burst_to_one_channel_goes_out_at_slacks_pace_without_429(clean: Stack) -> None:
    started = time.monotonic()
    ids = [
        send_alert.delay(tenant_id="tenant-b", alert_type=f"t{i}", severity="info", message="m").id
        for i in range(6)
    ]
    # Meanwhile another tenant's alert is not queued behind that backlog.
    other = send_alert.delay(tenant_id="tenant-a", alert_type="x", severity="info", message="m")
    wait_details(other.id, all_sent, timeout=10)
    other_done = time.monotonic() - started
    for event_id in ids:
        wait_details(event_id, all_sent, timeout=30)
    backlog_done = time.monotonic() - started
    stats = clean.sandbox.stats()
    assert stats["per_channel"]["#b-alerts"] == 6
    assert stats["rate_limited"] == {}, "no 429: the workers kept to the limit themselves"
    assert stats["max_rate_per_channel"]["#b-alerts"] <= 1
    assert backlog_done >= 5 * (1 / 0.8) - 0.2, "six posts to one channel take five intervals"
    assert other_done < backlog_done - 2, (other_done, backlog_done)


def test_a_tenants_ingest_backlog_does_not_hold_up_another_tenant(clean: Stack) -> None:
    """Events are ingested on their tenant's queue: one published behind another tenant's
    burst is ingested while that burst is still being worked through."""
    from sqlalchemy import func, select

    from alerting.db.models import Alert
    from alerting.db.session import session_scope
    from alerting.domain.events import validate_event
    from alerting.producer import publish_events

    clean.sandbox.configure(rate_limit=False)
    # tenant-a's grouped route: the burst is told in digests only (no flush runs here), so the
    # test measures ingest, not Slack's pace.
    burst = [
        validate_event(
            {
                "tenant_id": "tenant-a",
                "alert_type": "burst",
                "severity": "info",
                "message": "m",
                "labels": {"grouped": "yes", "host": f"h{i}"},
            }
        )
        for i in range(400)
    ]
    publish_events(burst)
    other = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="info", message="m")
    wait_details(other.id, lambda d: d["alert"] is not None, timeout=30)

    def burst_stored() -> bool:
        with session_scope() as session:
            count = session.scalar(
                select(func.count()).select_from(Alert).where(Alert.tenant_id == "tenant-a")
            )
        return count == len(burst)

    wait_for(burst_stored, timeout=120, what="the whole burst stored")
    with session_scope() as session:
        other_at = session.scalar(select(Alert.created_at).where(Alert.tenant_id == "tenant-b"))
        after = session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.tenant_id == "tenant-a", Alert.created_at > other_at)
        )
    # Behind one shared queue it would have come after all 400.
    assert after >= 100, f"only {after} of the burst were ingested after the other tenant's"
