"""Delivery modes compared: Web API (post, then update + thread reply) against webhooks.

Each mode runs the same lifecycle on a tenant of its own: ``count`` alerts fire, then each is
acknowledged. In webhook mode that is two webhook posts per alert; in Web API mode it is a
``chat.postMessage``, then a ``chat.update`` of that message and a thread reply, three calls.

The phases are strictly apart: an acknowledgement delivered before its alert's message was
recorded (``alert_messages``) would find nothing to update and post a new message instead, so
the bench waits until every firing notification is sent before the first acknowledgement.
Each mode is timed from the first send to the last Slack call the sandbox recorded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from alerting.testing import ManagedProcess, SandboxClient, wait_for
from bench.harness import API_TENANT_ID, TENANT_IDS, Stack
from bench.measure import SEVERITY, timeout_for
from bench.stats import MACHINE, cpu_snapshot, cpu_used, task_runtimes

Log = Callable[[str], None]

#: Alerts per mode through the whole lifecycle before measuring: the Web API client, the
#: update and thread-reply paths and the acknowledge path are otherwise cold in every pool
#: process (the throughput warm-up only fired webhook alerts).
MODE_WARMUP = 20
#: Threads acknowledging: each acknowledgement is a transaction plus a publish, mostly waiting
#: on Postgres and Redis, so a few threads keep the worker fed without a GIL-bound crowd.
ACK_THREADS = 4
#: Poll interval while waiting for the fire phase: that wait sits inside the measured time
#: (the acknowledgements start when it ends), so a coarse poll would add up to one interval.
_FIRE_POLL = 0.02
#: The last wait ends on the sandbox's own timestamps, so its poll interval does not matter.
_END_POLL = 0.1


@dataclass(frozen=True, slots=True)
class Mode:
    name: str
    tenant_id: str
    #: Slack calls per alert for firing + acknowledge.
    calls_per_alert: int
    #: What those calls are, for the report.
    calls: str
    #: Sandbox ``edits`` per alert (``chat.update``; webhooks cannot edit).
    edits_per_alert: int


#: bench-b has its own webhook URL, stored encrypted like the Web API tenant's bot token.
WEBHOOK = Mode("webhook", TENANT_IDS[1], 2, "2 webhook posts", 0)
WEB_API = Mode("Web API", API_TENANT_ID, 3, "postMessage + chat.update + thread reply", 1)
MODES = (WEBHOOK, WEB_API)


@dataclass(frozen=True, slots=True)
class ModeRun:
    mode: Mode
    count: int
    #: From the first send to the last Slack call recorded by the sandbox.
    seconds: float
    #: From the first send to the last firing message recorded by the sandbox.
    fire_seconds: float
    #: From the first send to the first acknowledgement: the fire phase plus noticing its end.
    ack_started: float
    #: Worker-measured seconds of every deliver task of the run (firing and acknowledge).
    deliver_seconds: list[float] = field(default_factory=list)
    #: CPU seconds per process group while it ran (see ``measure.Throughput.cpu_seconds``):
    #: what other processes took says how much a figure may be noise.
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        """Alerts through their whole lifecycle (fire + acknowledge) per second."""
        return self.count / self.seconds

    @property
    def calls(self) -> int:
        return self.count * self.mode.calls_per_alert

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds of the bench's processes and services, and of everything else."""
        ours = sum(v for k, v in self.cpu_seconds.items() if k != MACHINE)
        return ours, max(0.0, self.cpu_seconds.get(MACHINE, ours) - ours)


def _fields(mode: Mode, run: str, index: int) -> dict[str, Any]:
    """One alert with its own fingerprint; ``run`` keeps warm-up and measured alerts apart."""
    return {
        "tenant_id": mode.tenant_id,
        "alert_type": "bench_mode",
        "severity": SEVERITY,
        "message": f"bench {run} #{index}",
        "labels": {"bench_run": run, "bench_idx": str(index)},
        "source": "bench",
    }


def _sent_alerts(mode: Mode, run: str) -> list[uuid.UUID]:
    """Alerts of the run whose firing notification is recorded ``sent`` (with its message)."""
    from alerting.db.session import get_engine

    # `sent` and the alert_messages row are written in one transaction (deliver._record), so
    # an acknowledgement of any of these finds the message to update.
    query = text(
        """
        SELECT a.id FROM alerts a
        JOIN notifications n ON n.alert_id = a.id AND n.kind = 'firing' AND n.state = 'sent'
        WHERE a.tenant_id = :tenant AND a.labels ->> 'bench_run' = :run
        """
    )
    with get_engine().connect() as conn:
        return list(conn.execute(query, {"tenant": mode.tenant_id, "run": run}).scalars())


def _wait_sandbox(
    sandbox: SandboxClient,
    worker: ManagedProcess,
    messages: int,
    edits: int,
    *,
    interval: float,
    what: str,
) -> None:
    def done() -> bool:
        stats = sandbox.stats()
        return int(stats["messages"]) >= messages and int(stats["edits"]) >= edits

    wait_for(
        done,
        timeout=timeout_for(messages + edits),
        interval=interval,
        what=what,
        alive=worker.check_alive,
    )


def _acknowledge(mode: Mode, alert_ids: Sequence[uuid.UUID]) -> None:
    from alerting.manager import SyncSlackAlertManager

    manager = SyncSlackAlertManager()

    def ack(alert_id: uuid.UUID) -> bool:
        state = manager.acknowledge(alert_id, by="bench", tenant_id=mode.tenant_id)
        return bool(state.changed)

    with ThreadPoolExecutor(ACK_THREADS, thread_name_prefix="bench-ack") as pool:
        changed = sum(pool.map(ack, alert_ids))
    if changed != len(alert_ids):
        # An unchanged alert sends nothing, and the wait for its calls would only time out.
        raise RuntimeError(f"{mode.name}: {len(alert_ids) - changed} alerts were not acknowledged")


def _lifecycle(
    stack: Stack, worker: ManagedProcess, mode: Mode, run: str, count: int
) -> tuple[float, float]:
    """Fire ``count`` alerts, wait until all are sent, acknowledge all, wait until Slack has
    everything. Returns when the first send and the first acknowledgement went out."""
    from alerting.producer import send_alert

    sandbox = stack.sandbox
    started = time.time()
    for index in range(count):
        send_alert.delay(**_fields(mode, run, index))
    _wait_sandbox(
        sandbox, worker, count, 0, interval=_FIRE_POLL, what=f"{count} {mode.name} alerts fired"
    )

    # The sandbox has them all; the deliver tasks record `sent` just after Slack answered, so
    # this is usually true at the first look.
    def all_sent() -> list[uuid.UUID] | None:
        ids = _sent_alerts(mode, run)
        return ids if len(ids) >= count else None

    alert_ids = wait_for(
        all_sent,
        timeout=30,
        interval=0.01,
        what=f"{count} {mode.name} firing notifications recorded as sent",
        alive=worker.check_alive,
    )
    ack_started = time.time()
    _acknowledge(mode, alert_ids)
    _wait_sandbox(
        sandbox,
        worker,
        # Webhook: a second message per alert; Web API: the thread reply (and an edit).
        2 * count,
        mode.edits_per_alert * count,
        interval=_END_POLL,
        what=f"{count} {mode.name} acknowledgements in the sandbox",
    )
    return started, ack_started


def _recorded(mode: Mode, messages: list[dict[str, Any]], count: int) -> tuple[float, float]:
    """When the sandbox recorded the last firing message and the last call of all.

    Also checks each alert got exactly its calls: an acknowledgement posted as a new message
    (no message to update) would be counted by ``messages`` and skew the comparison.
    """
    top = [m for m in messages if m["thread_ts"] is None]
    replies = [m for m in messages if m["thread_ts"] is not None]
    edits = [h["replaced_at"] for m in top for h in m["history"]]
    if mode.edits_per_alert:
        shape_ok = (
            len(top) == count
            and len(replies) == count
            and all(m["edits"] == mode.edits_per_alert for m in top)
        )
        fired = max(m["received_at"] for m in top)
        last = max([*edits, *(m["received_at"] for m in replies)])
    else:
        shape_ok = len(top) == 2 * count and not replies and not edits
        # Every acknowledgement started after the sandbox held all firing messages.
        times = sorted(m["received_at"] for m in top)
        fired, last = times[count - 1], times[-1]
    if not shape_ok:
        raise RuntimeError(
            f"{mode.name}: the sandbox holds {len(top)} messages, {len(replies)} replies and "
            f"{len(edits)} edits for {count} alerts, not the expected lifecycle"
        )
    return float(fired), float(last)


def measure_mode(
    stack: Stack, worker: ManagedProcess, mode: Mode, count: int, log: Log, run: str
) -> ModeRun:
    from alerting.queues import DELIVER_TASK

    stack.sandbox.reset()
    # Slack's per-channel limit would measure Retry-After, as in the throughput run.
    stack.sandbox.configure(rate_limit=False)
    log(f"modes: {mode.name}, {count} alerts fired then acknowledged ({mode.calls} each)")
    offset = worker.log_size()
    roots = {"worker": worker.pid, "sandbox": stack.sandbox_process.pid}
    before = cpu_snapshot(roots)
    started, ack_started = _lifecycle(stack, worker, mode, run, count)
    after = cpu_snapshot(roots)
    fired, last = _recorded(mode, stack.sandbox.messages(), count)

    def deliver_lines() -> list[float]:
        return task_runtimes(worker.log_text(offset)).get(DELIVER_TASK, [])

    def all_lines() -> list[float] | None:
        # Two deliver tasks per alert (firing, acknowledge); the last lines may lag a moment.
        lines = deliver_lines()
        return lines if len(lines) >= 2 * count else None

    try:
        deliver = wait_for(
            all_lines,
            timeout=10,
            interval=0.1,
            what="deliver task log lines",
        )
    except TimeoutError:
        deliver = deliver_lines()  # report what there is
    return ModeRun(
        mode=mode,
        count=count,
        seconds=last - started,
        fire_seconds=fired - started,
        ack_started=ack_started - started,
        deliver_seconds=deliver,
        cpu_seconds=cpu_used(before, after),
    )


def measure_modes(
    stack: Stack, worker: ManagedProcess, count: int, log: Log, warmup: int = MODE_WARMUP
) -> list[ModeRun]:
    """Both modes, each warmed up first; the measured runs use fresh fingerprints."""
    for mode in MODES:
        log(f"modes: warming up {mode.name} with {warmup} alerts")
        stack.sandbox.reset()
        stack.sandbox.configure(rate_limit=False)
        _lifecycle(stack, worker, mode, f"mwarm{mode.tenant_id.replace('-', '')}", warmup)
    return [
        measure_mode(stack, worker, mode, count, log, f"mode{mode.tenant_id.replace('-', '')}")
        for mode in MODES
    ]
