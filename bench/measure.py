"""The three measurements: no-op task throughput, alert throughput, alert latency at a steady rate.

Throughputs are timed from the first publish to the last completion, so publishing is part of
both (the producer shares the machine with the workers in either case).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import redis
from sqlalchemy import text

from alerting.testing import ManagedProcess, SandboxClient, wait_for
from bench.harness import TENANT_IDS, Stack
from bench.names import NOOP_COUNTER, NOOP_QUEUE, NOOP_TASK
from bench.stats import CpuSnapshot, Summary, cpu_snapshot, cpu_used, task_runtimes

#: Every alert of the bench is `warning`: one notification, to the tenant's default channel.
SEVERITY = "warning"
#: How the bench finds its alerts in what Slack received: "bench <run> #<index>".
_MESSAGE = re.compile(r"bench (?P<run>\w+) #(?P<index>\d+)")
#: Slowest pipeline rate assumed when sizing timeouts, in alerts (or no-ops) per second.
_SLOWEST_RATE = 5.0

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Throughput:
    count: int
    #: From the first publish to the last completion.
    seconds: float
    #: How long publishing all of them took (included in ``seconds``).
    publish_seconds: float
    #: Seconds per finished task by task name, from the worker's log.
    task_seconds: dict[str, list[float]] = field(default_factory=dict)
    #: CPU seconds per process group while it ran.
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True, slots=True)
class Latency:
    rate: float
    sent: int
    #: End-to-end seconds, one per alert that reached the sandbox.
    seconds: list[float]
    #: Median seconds per pipeline stage (publish → ingest → route → claim → Slack).
    stages: dict[str, Summary]
    #: Achieved publishing rate (the bench sleeps between sends; this checks it kept up).
    achieved_rate: float
    #: CPU seconds per process group while it ran (see ``Throughput.cpu_seconds``).
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    #: Seconds from the first send to the slowest alert's send: where a tail came from.
    slowest_at: float = 0.0

    @property
    def summary(self) -> Summary:
        return Summary.of(self.seconds)


def timeout_for(count: int) -> float:
    """How long ``count`` tasks (or Slack calls) may take before the bench gives up."""
    return max(60.0, count / _SLOWEST_RATE)


# --- no-op tasks ------------------------------------------------------------------------------


def _publish_noops(count: int) -> None:
    from alerting.producer import producer_app

    # The same client send_alert publishes with, so both sides pay the same publish cost.
    app = producer_app()
    for _ in range(count):
        app.send_task(NOOP_TASK, queue=NOOP_QUEUE)


def measure_noops(
    stack: Stack, worker: ManagedProcess, count: int, warmup: int, log: Log
) -> Throughput:
    counter = redis.Redis.from_url(stack.redis_url)

    def done() -> int:
        return int(counter.get(NOOP_COUNTER) or 0)

    # Warm-up: pool processes forked and imported, broker and Redis connections open.
    log(f"no-op: warming up with {warmup} tasks")
    counter.set(NOOP_COUNTER, 0)
    _publish_noops(warmup)
    wait_for(
        lambda: done() >= warmup,
        timeout=timeout_for(warmup),
        what="no-op warm-up",
        alive=worker.check_alive,
    )
    counter.set(NOOP_COUNTER, 0)

    log(f"no-op: {count} tasks")
    log_offset = worker.log_size()
    roots = {"worker": worker.pid, "sandbox": stack.sandbox_process.pid}
    before = cpu_snapshot(roots)
    started = time.perf_counter()
    _publish_noops(count)
    published = time.perf_counter()
    # The end time is when the counter is seen full, so the interval is the measurement's
    # resolution: 5 ms is under 0.1% of a default run and costs Redis next to nothing.
    wait_for(
        lambda: done() >= count,
        timeout=timeout_for(count),
        interval=0.005,
        what=f"{count} no-op tasks",
        alive=worker.check_alive,
    )
    finished = time.perf_counter()
    after = cpu_snapshot(roots)
    # The trace log line is written just after the INCR; give the last ones a moment.
    runtimes = _wait_task_lines(worker, log_offset, {NOOP_TASK: count})
    return Throughput(
        count=count,
        seconds=finished - started,
        publish_seconds=published - started,
        task_seconds=runtimes,
        cpu_seconds=cpu_used(before, after),
    )


# --- alerts -----------------------------------------------------------------------------------


def alert_fields(run: str, index: int) -> dict[str, Any]:
    """One alert with its own fingerprint (the index is a label), tenants taken in turn."""
    return {
        "tenant_id": TENANT_IDS[index % len(TENANT_IDS)],
        "alert_type": "bench_check",
        "severity": SEVERITY,
        "message": f"bench {run} #{index}",
        "labels": {"bench_run": run, "bench_idx": str(index)},
        "source": "bench",
    }


def _received(messages: list[dict[str, Any]], run: str) -> dict[int, float]:
    """Index -> when the sandbox recorded that alert's message."""
    found: dict[int, float] = {}
    for message in messages:
        match = _MESSAGE.search(str(message.get("text", "")))
        if match and match["run"] == run:
            found[int(match["index"])] = float(message["received_at"])
    return found


def _wait_messages(sandbox: SandboxClient, worker: ManagedProcess, count: int, what: str) -> None:
    wait_for(
        lambda: sandbox.message_count() >= count,
        timeout=timeout_for(count),
        interval=0.1,
        what=what,
        alive=worker.check_alive,
    )


def _wait_task_lines(
    worker: ManagedProcess, offset: int, expected: dict[str, int], timeout: float = 10.0
) -> dict[str, list[float]]:
    """Task runtimes logged since ``offset``, once every expected task has logged its line."""

    def complete() -> dict[str, list[float]] | None:
        found = task_runtimes(worker.log_text(offset))
        return found if all(len(found.get(k, ())) >= n for k, n in expected.items()) else None

    try:
        return wait_for(complete, timeout=timeout, interval=0.1, what="worker log lines")
    except TimeoutError:
        return task_runtimes(worker.log_text(offset))  # report what there is


def warm_up_alerts(
    stack: Stack, worker: ManagedProcess, count: int, log: Log, run: str = "warm"
) -> None:
    from alerting.producer import send_alert

    log(f"alerts: warming up with {count} alerts")
    stack.sandbox.reset()
    # Slack's per-channel limit would turn the bench into a measurement of Retry-After.
    stack.sandbox.configure(rate_limit=False)
    for index in range(count):
        send_alert.delay(**alert_fields(run, index))
    _wait_messages(stack.sandbox, worker, count, "warm-up alerts")


def measure_alerts(
    stack: Stack,
    worker: ManagedProcess,
    count: int,
    log: Log,
    *,
    run: str = "tput",
    on_start: Callable[[], None] | None = None,
) -> Throughput:
    """``count`` alerts as fast as they can be published, until Slack has them all.

    ``run`` keeps fingerprints of repeated runs apart: a repeat of an open alert is folded into
    it and sends nothing.
    """
    from alerting.producer import send_alert
    from alerting.queues import DELIVER_TASK, INGEST_TASK, ROUTE_TASK

    stack.sandbox.reset()
    log(f"alerts: {count} alerts end to end")
    if on_start is not None:
        on_start()
    log_offset = worker.log_size()
    roots = {"worker": worker.pid, "sandbox": stack.sandbox_process.pid}
    before: CpuSnapshot = cpu_snapshot(roots)
    started = time.time()
    for index in range(count):
        send_alert.delay(**alert_fields(run, index))
    published = time.time()
    _wait_messages(stack.sandbox, worker, count, f"{count} alerts in the sandbox")
    after = cpu_snapshot(roots)
    received = _received(stack.sandbox.messages(), run)
    if len(received) < count:
        raise RuntimeError(f"the sandbox has {len(received)} of the {count} bench alerts")
    runtimes = _wait_task_lines(
        worker, log_offset, {INGEST_TASK: count, ROUTE_TASK: count, DELIVER_TASK: count}
    )
    return Throughput(
        count=count,
        # The sandbox's own timestamp of the last message: independent of the poll interval.
        seconds=max(received.values()) - started,
        publish_seconds=published - started,
        task_seconds=runtimes,
        cpu_seconds=cpu_used(before, after),
    )


def measure_latency(
    stack: Stack, worker: ManagedProcess, rate: float, seconds: float, log: Log
) -> Latency:
    from alerting.producer import send_alert

    stack.sandbox.reset()
    total = max(1, round(rate * seconds))
    log(f"latency: {total} alerts at {rate:g}/s")
    sent_at: list[float] = []
    roots = {"worker": worker.pid, "sandbox": stack.sandbox_process.pid}
    before = cpu_snapshot(roots)
    started = time.perf_counter()
    for index in range(total):
        # Absolute deadlines, so a slow send does not shift every later one (no drift).
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_at.append(time.time())
        send_alert.delay(**alert_fields("lat", index))
    elapsed = time.perf_counter() - started
    _wait_messages(stack.sandbox, worker, total, f"{total} latency alerts in the sandbox")
    after = cpu_snapshot(roots)
    received = _received(stack.sandbox.messages(), "lat")
    latencies = {i: received[i] - sent_at[i] for i in sorted(received)}
    slowest = max(latencies, key=latencies.__getitem__)
    return Latency(
        rate=rate,
        sent=total,
        seconds=list(latencies.values()),
        stages=_stages(sent_at, received),
        achieved_rate=(total - 1) / elapsed if total > 1 and elapsed > 0 else rate,
        cpu_seconds=cpu_used(before, after),
        slowest_at=sent_at[slowest] - sent_at[0],
    )


def _stages(sent_at: list[float], received: dict[int, float]) -> dict[str, Summary]:
    """Where the latency goes, from the timestamps the pipeline writes to Postgres.

    ``alert_events.received_at`` and ``notifications.created_at`` are Postgres ``now()`` (the
    start of the ingest and route transactions), ``claimed_at`` and ``sent_at`` are the
    worker's clock in deliver: one machine, one clock.
    """
    from alerting.db.session import get_engine

    query = text(
        """
        SELECT (e.payload -> 'labels' ->> 'bench_idx')::int AS idx,
               extract(epoch FROM e.received_at) AS ingest_start,
               extract(epoch FROM n.created_at) AS route_start,
               extract(epoch FROM n.claimed_at) AS deliver_claim,
               extract(epoch FROM n.sent_at) AS deliver_recorded
        FROM alert_events e JOIN notifications n ON n.event_id = e.id
        WHERE e.payload -> 'labels' ->> 'bench_run' = 'lat'
        """
    )
    spans: dict[str, list[float]] = {
        "publish → ingest transaction": [],
        "ingest → route transaction": [],
        "route → deliver claim": [],
        "deliver claim → Slack received": [],
        "Slack received → sent recorded": [],
    }
    with get_engine().connect() as conn:
        for row in conn.execute(query):
            slack = received.get(row.idx)
            if slack is None or row.deliver_claim is None or row.deliver_recorded is None:
                continue
            points = [
                sent_at[row.idx],
                float(row.ingest_start),
                float(row.route_start),
                float(row.deliver_claim),
                slack,
                float(row.deliver_recorded),
            ]
            for name, (a, b) in zip(spans, pairwise(points), strict=True):
                spans[name].append(b - a)
    return {name: Summary.of(values) for name, values in spans.items()}
