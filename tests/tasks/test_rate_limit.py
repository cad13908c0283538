"""SlackRateLimiter: shared token buckets in Redis, waits that book slots, tenants apart."""

from __future__ import annotations

import itertools
import threading
import time

import redis

from alerting import send_alert
from alerting.ratelimit import SlackRateLimiter
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, wait_details


def _limiter(stack: Stack, per_second: float = 1.0, burst: int = 1) -> SlackRateLimiter:
    return SlackRateLimiter(
        redis.Redis.from_url(stack.redis_url), channel_per_second=per_second, channel_burst=burst
    )


def test_waiting_notifications_get_distinct_slots_a_channel_interval_apart(clean: Stack) -> None:
    limiter = _limiter(clean)
    waits = [limiter.reserve("tenant-x", "#c", rate_limit=6000).wait for _ in range(5)]
    assert waits[0] == 0
    for before, after in itertools.pairwise(waits):
        assert 0.95 <= after - before <= 1.05, waits
    # Another channel of the same tenant is not held up by that channel's queue...
    assert limiter.reserve("tenant-x", "#other", rate_limit=6000).wait < 0.05
    # ...nor another tenant's channel of the same name.
    assert limiter.reserve("tenant-y", "#c", rate_limit=6000).wait < 0.05


def test_burst_then_the_steady_rate(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=2.0, burst=3)
    waits = [limiter.reserve("tenant-x", "#c", rate_limit=6000).wait for _ in range(5)]
    assert waits[:3] == [0, 0, 0], waits
    assert 0.45 <= waits[3] <= 0.55 and 0.95 <= waits[4] <= 1.05, waits


def test_the_tenant_bucket_spans_its_channels(clean: Stack) -> None:
    limiter = _limiter(clean, per_second=100.0)
    # 6 messages a minute: one every ten seconds, a burst of one (ten seconds' worth).
    first = limiter.reserve("tenant-x", "#one", rate_limit=6).wait
    second = limiter.reserve("tenant-x", "#two", rate_limit=6).wait
    assert first == 0 and 9.9 <= second <= 10.05


def test_buckets_are_shared_and_atomic_across_clients(clean: Stack) -> None:
    """Many workers booking at once never get the same slot."""
    waits: list[float] = []
    lock = threading.Lock()

    def book() -> None:
        limiter = _limiter(clean, per_second=1.0)
        for _ in range(20):
            asked = time.time()
            wait = limiter.reserve("tenant-x", "#c", rate_limit=100_000).wait
            with lock:
                # Absolute: the slot is counted from the moment Redis ran the script.
                waits.append(asked + wait)

    threads = [threading.Thread(target=book) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots = sorted(waits)
    gaps = [after - before for before, after in itertools.pairwise(slots)]
    # One a second, far above the few ms between asking and Redis answering.
    assert len(slots) == 100 and min(gaps) >= 0.95, min(gaps)


def test_too_far_ahead_is_not_booked(clean: Stack) -> None:
    limiter = SlackRateLimiter(
        redis.Redis.from_url(clean.redis_url), channel_per_second=1.0, max_reserve=2.0
    )
    booked = [limiter.reserve("tenant-x", "#c", rate_limit=6000) for _ in range(4)]
    assert [r.reserved for r in booked] == [True, True, True, False]
    # The refused one booked nothing: the next caller still gets the slot after the third.
    assert not limiter.reserve("tenant-x", "#c", rate_limit=6000).reserved


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
