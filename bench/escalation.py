"""Escalation levels under load: many escalations whose levels fall due at the same moment.

``count`` alerts of the escalation tenant are written with an escalation each, all started at
the same instant, so every level 1 falls due ``LEVEL_DELAYS[0]`` seconds later and every
level 2 ``LEVEL_DELAYS[1]`` seconds later. A real beat process sends the tick every ``tick``
seconds (``ALERTING_ESCALATION_TICK``) and the real worker runs it and the deliveries.

Per level it reports the lateness of the level's notifications (their ``created_at``, the
start of the tick transaction that wrote them, minus the level's due time) and of their
arrival in the sandbox, how many levels fired twice (must be 0) and how many never. The
baseline is the tick interval itself: a tick runs every ``tick`` seconds, so a level is
expected up to one interval late; ``p99 / tick`` above 1 means the ticks fall behind.

``python -m bench.escalation`` runs it alone; ``python -m bench`` runs it as its last phase.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import text

from alerting.testing import ManagedProcess, wait_for
from bench.harness import ESCALATION_CHANNELS, ESCALATION_TENANT_ID, ROOT, Stack
from bench.stats import Summary

Log = Callable[[str], None]

#: Seconds from the start of every escalation to its two levels.
LEVEL_DELAYS = (5, 10)
#: The beat tick of the run, in seconds.
DEFAULT_TICK = 1.0
#: Rows per INSERT while setting up (one round trip each).
_INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LevelRun:
    level: int
    #: Seconds from the due time to the notifications' creation, one per escalation that fired.
    written: list[float]
    #: Seconds from the due time to the sandbox receiving the level's message, for those
    #: received by the time the last level was written.
    delivered: list[float]
    fired_twice: int
    never: int

    @property
    def written_summary(self) -> Summary:
        return Summary.of(self.written)

    @property
    def delivered_summary(self) -> Summary:
        return Summary.of(self.delivered)


@dataclass(frozen=True, slots=True)
class EscalationRun:
    count: int
    tick: float
    levels: list[LevelRun] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """p99 lateness of the written notifications over the tick interval (the baseline)."""
        return max(level.written_summary.p99 for level in self.levels) / self.tick


def _policy() -> dict[str, Any]:
    return {
        "levels": [
            {"delay": LEVEL_DELAYS[0], "channels": [ESCALATION_CHANNELS[0]], "mention": None},
            {
                "delay": LEVEL_DELAYS[1],
                "channels": [ESCALATION_CHANNELS[1]],
                "mention": "oncall:primary",
            },
        ],
        "repeat": 0,
        "ack_timeout": None,
    }


def _insert_escalations(count: int, run: str) -> datetime:
    """``count`` firing alerts and their escalations, all started now; returns that instant."""
    import json

    from alerting.db.session import get_engine

    started = datetime.now(UTC)
    policy = json.dumps(_policy())
    alerts: list[dict[str, Any]] = []
    escalations: list[dict[str, Any]] = []
    for index in range(count):
        alert_id = uuid.uuid4()
        alerts.append(
            {
                "id": alert_id,
                "fingerprint": uuid.uuid4().hex,
                "type": f"bench_escalation_{run}",
                "message": f"bench escalation {run} #{index}",
                "at": started,
            }
        )
        escalations.append(
            {
                "id": uuid.uuid4(),
                "alert_id": alert_id,
                "started": started,
                "next_at": started + timedelta(seconds=LEVEL_DELAYS[0]),
            }
        )
    with get_engine().begin() as conn:
        for chunk in range(0, count, _INSERT_CHUNK):
            conn.execute(
                text(
                    "INSERT INTO alerts (id, tenant_id, fingerprint, alert_type, severity, "
                    "message, labels, annotations, source, status, count, first_seen_at, "
                    "last_seen_at) VALUES (:id, :tenant, :fingerprint, :type, 'critical', "
                    ":message, '{}', '{}', 'bench', 'firing', 1, :at, :at)"
                ),
                [
                    {**a, "tenant": ESCALATION_TENANT_ID}
                    for a in alerts[chunk : chunk + _INSERT_CHUNK]
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO escalations (id, tenant_id, alert_id, policy_name, policy, "
                    "started_at, level, repeats_done, next_at, state) VALUES (:id, :tenant, "
                    ":alert_id, 'bench', CAST(:policy AS jsonb), :started, 0, 0, :next_at, "
                    "'active')"
                ),
                [
                    {**e, "tenant": ESCALATION_TENANT_ID, "policy": policy}
                    for e in escalations[chunk : chunk + _INSERT_CHUNK]
                ],
            )
    return started


def _fired(run: str) -> list[tuple[uuid.UUID, int, int, datetime | None]]:
    """(escalation, level, events, first notification written) for every escalation and level."""
    from alerting.db.session import get_engine

    query = text(
        """
        SELECT e.id, lv.level, count(DISTINCT ev.id), min(n.created_at)
        FROM escalations e
        JOIN alerts a ON a.id = e.alert_id AND a.alert_type = :type
        CROSS JOIN (VALUES (1), (2)) AS lv(level)
        LEFT JOIN alert_events ev ON ev.action = 'escalated'
            AND ev.alert_id = e.alert_id AND (ev.payload ->> 'level')::int = lv.level
        LEFT JOIN notifications n ON n.event_id = ev.id
        GROUP BY e.id, lv.level
        """
    )
    with get_engine().connect() as conn:
        rows = conn.execute(query, {"type": f"bench_escalation_{run}"}).all()
    return [(row[0], int(row[1]), int(row[2]), row[3]) for row in rows]


def _active(run: str) -> int:
    from alerting.db.session import get_engine

    query = text(
        "SELECT count(*) FROM escalations e JOIN alerts a ON a.id = e.alert_id "
        "WHERE a.alert_type = :type AND e.state = 'active'"
    )
    with get_engine().connect() as conn:
        return int(conn.execute(query, {"type": f"bench_escalation_{run}"}).scalar_one())


def measure_escalation(
    stack: Stack,
    worker: ManagedProcess,
    count: int,
    log: Log,
    *,
    tick: float = DEFAULT_TICK,
    run: str = "esc",
) -> EscalationRun:
    stack.sandbox.reset()
    stack.sandbox.configure(rate_limit=False)
    beat = stack.start(
        "beat",
        [sys.executable, "-m", "alerting.cli", "beat", "-l", "INFO"],
        {"ALERTING_ESCALATION_TICK": str(tick)},
    )
    # Beat sends its first tick once it runs; the escalations are started after that, so
    # their levels fall due under a steady tick.
    wait_for(
        lambda: "Sending due task escalation-tick" in beat.log_tail(),
        timeout=60,
        interval=0.2,
        what="beat to send its first escalation tick",
        alive=beat.check_alive,
    )
    log(
        f"escalation: {count:,} escalations, levels due {LEVEL_DELAYS[0]} s and "
        f"{LEVEL_DELAYS[1]} s after start, tick {tick:g} s"
    )
    started = _insert_escalations(count, run)
    wait_for(
        lambda: _active(run) == 0,
        timeout=LEVEL_DELAYS[-1] + 60,
        interval=0.5,
        what="every escalation to fire its last level",
        alive=worker.check_alive,
    )
    fired = _fired(run)

    # Deliveries go on after the last level was written; how many reached Slack by then says
    # how far delivery trails the ticks (waiting for all of them would take minutes).
    messages = stack.sandbox.messages()
    beat.stop()
    levels: list[LevelRun] = []
    for position, (channel, delay) in enumerate(
        zip(ESCALATION_CHANNELS, LEVEL_DELAYS, strict=True)
    ):
        level = position + 1
        due = started + timedelta(seconds=delay)
        rows = [row for row in fired if row[1] == level]
        written = [(row[3] - due).total_seconds() for row in rows if row[3] is not None]
        delivered = [
            float(m["received_at"]) - due.timestamp() for m in messages if m["channel"] == channel
        ]
        levels.append(
            LevelRun(
                level=level,
                written=written,
                delivered=delivered,
                fired_twice=sum(1 for row in rows if row[2] > 1),
                never=sum(1 for row in rows if row[2] == 0),
            )
        )
    return EscalationRun(count=count, tick=tick, levels=levels)


def escalation_table(result: EscalationRun) -> Table:
    table = Table(
        title=(
            f"Escalation levels: {result.count:,} escalations due at once, tick {result.tick:g} s; "
            f"p99 written lateness ÷ tick = {result.ratio:.2f}"
        ),
        title_justify="left",
    )
    for column in ("level", "written p50", "p99", "max", "in Slack by then", "their p50"):
        table.add_column(column, justify="right")
    table.add_column("fired twice", justify="right")
    table.add_column("never", justify="right")
    for level in result.levels:
        w, d = level.written_summary, level.delivered_summary
        table.add_row(
            str(level.level),
            *(f"{v:.2f} s" for v in (w.p50, w.p99, w.max)),
            f"{d.count:,}",
            f"{d.p50:.2f} s" if d.count else "-",
            str(level.fired_twice),
            str(level.never),
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    from bench.harness import bench_stack
    from bench.report import make_console

    parser = argparse.ArgumentParser(prog="python -m bench.escalation", description=__doc__)
    parser.add_argument("--escalations", type=int, default=2000)
    parser.add_argument("--tick", type=float, default=DEFAULT_TICK, help="seconds")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    if args.escalations < 1 or args.tick <= 0 or args.concurrency < 1:
        parser.error("--escalations, --tick and --concurrency must be positive")
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S")

    def log(message: str) -> None:
        console.log(message, highlight=False)

    with bench_stack(args.concurrency, log_dir) as stack:
        worker = stack.start_alert_worker()
        result = measure_escalation(stack, worker, args.escalations, log, tick=args.tick)
    console.print(escalation_table(result))
    console.print(f"logs: {Path(log_dir)}", highlight=False, soft_wrap=True)
    failed = sum(level.fired_twice + level.never for level in result.levels)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
