"""Priority under pressure: the original design's tenant in a storm, Slack's limit enforced.

The tenant is configured as the original design's documentation does (``rate_limit: 10``
messages a minute, ``#alerts-prod`` and ``#critical-alerts``, no routing tree) and delivered
with the operator's bot token (Web API), plus an escalation policy on its criticals (level 1
after 3 s to ``#dev-team``, level 2 after 10 s to ``#ops-team``). Into it go ``--alerts``
alerts in ``--seconds`` (distinct alerts: 1 % critical, 4 % error, a third warning), one more
critical every second of the storm, and halfway another tenant's alert.

Printed, measured in the run: critical publish → first Slack message telling it (p50, p99,
max), the same for escalation levels against their due time, 429 answers, the highest rate a
channel saw, posts per minute against the tenant's budget, alerts with no ``slack_messages``
entry at the end (must be 0), the time from the last publish until every alert was told,
messages ÷ alerts, and another tenant's alert sent mid-storm → Slack.

``python -m bench.priority`` runs it alone; ``python -m bench`` runs it as a phase.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import text

from alerting.testing import wait_for
from bench.harness import (
    API_BOT_TOKEN,
    PRIORITY_TENANT_ID,
    ROOT,
    TENANT_IDS,
    Stack,
    bench_stack,
)
from bench.report import make_console
from bench.stats import percentile

PROBE_TENANT_ID = TENANT_IDS[0]
PROBE = "probe from another tenant during the priority storm"
#: Severities of the storm by position: 1 % critical, 4 % error, about 32 % warning, the rest
#: info.
_SEVERITY_EVERY = ((100, "critical"), (25, "error"), (3, "warning"))
#: The default update budget (ALERTING_UPDATE_RATE per minute) and the limiter's burst.
UPDATE_BUDGET = 50.0
UPDATE_BURST = 10
#: The escalation tick of the phase (beat), seconds; a level's target lateness.
TICK = 1.0
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PriorityRun:
    alerts: int
    publish_seconds: float
    critical_seconds: list[float]
    #: Lateness of escalation levels against their due time, by level.
    level_lateness: dict[int, list[float]]
    rate_limited: int
    max_rate: int
    #: New top-level messages in any 60 s window, the highest.
    posts_per_minute: int
    #: ``chat.update`` calls in any 60 s window, the highest.
    updates_per_minute: int
    rate_limit: int
    untold: int
    #: From the last publish until every alert was told.
    told_seconds: float
    messages: int
    updates: int
    other_tenant_seconds: float | None
    folded: int


def _severity(index: int) -> str:
    for every, severity in _SEVERITY_EVERY:
        if index % every == 0:
            return severity
    return "info"


def _publish(count: int, seconds: float) -> tuple[float, float, float]:
    """The storm at an even pace, a critical every second and another tenant's alert halfway;
    (publish seconds, epoch of the probe, epoch of the last publish)."""
    from alerting.producer import send_alert

    started = time.monotonic()
    probe_sent = 0.0
    next_critical = started
    beat_index = 0
    for index in range(count):
        if index == count // 2:
            probe_sent = time.time()
            send_alert.delay(
                tenant_id=PROBE_TENANT_ID, alert_type="probe", severity="warning", message=PROBE
            )
        if time.monotonic() >= next_critical:
            send_alert.delay(
                tenant_id=PRIORITY_TENANT_ID,
                alert_type="payments_down",
                severity="critical",
                message=f"critical #{beat_index} during the storm",
                labels={"beat": str(beat_index)},
            )
            beat_index += 1
            next_critical += 1.0
        send_alert.delay(
            tenant_id=PRIORITY_TENANT_ID,
            alert_type=f"svc_{index % 40:02}",
            severity=_severity(index),
            message=f"storm alert #{index}",
            labels={"host": f"h{index:05}"},
        )
        ahead = started + seconds * (index + 1) / count - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return time.monotonic() - started, probe_sent, time.time()


def _query(sql: str, **params: Any) -> list[Any]:
    from alerting.db.session import get_engine

    with get_engine().connect() as conn:
        return list(conn.execute(text(sql), {"t": PRIORITY_TENANT_ID, **params}))


def _progress(expected: int) -> dict[str, Any] | None:
    row = _query(
        """
        SELECT
          (SELECT count(*) FROM alerts WHERE tenant_id = :t) AS stored,
          (SELECT count(*) FROM alerts a WHERE tenant_id = :t AND NOT EXISTS
             (SELECT 1 FROM slack_messages m WHERE m.alert_id = a.id)) AS untold,
          (SELECT count(*) FROM notifications WHERE tenant_id = :t
             AND state IN ('pending', 'sending', 'retrying', 'held')) AS waiting,
          (SELECT extract(epoch FROM max(m.sent_at)) FROM slack_messages m
             WHERE m.tenant_id = :t) AS last_told
        """
    )[0]
    values = dict(row._mapping)
    done = values["stored"] >= expected and values["untold"] == 0 and values["waiting"] == 0
    return values if done else None


def measure_priority(stack: Stack, alerts: int, seconds: float, log: Log) -> PriorityRun:
    stack.sandbox.reset()
    stack.sandbox.configure(rate_limit=True, burst=1, per_second=1.0)
    extra = {"ALERTING_ESCALATION_TICK": str(TICK), "SLACK_BOT_TOKEN": API_BOT_TOKEN}
    worker = stack.start(
        "priority-worker",
        [
            sys.executable,
            "-m",
            "alerting.cli",
            "worker",
            "--concurrency",
            str(stack.concurrency),
            "-l",
            "INFO",
        ],
        extra,
    )
    stack.wait_worker(worker, "shared")
    beat = stack.start("priority-beat", [sys.executable, "-m", "alerting.cli", "beat"], extra)
    log(f"priority: {alerts:,} alerts in {seconds:g}s into {PRIORITY_TENANT_ID}")
    publish_seconds, probe_sent, last_publish = _publish(alerts, seconds)
    expected = alerts + int(publish_seconds) + 1
    try:
        final = wait_for(
            lambda: _progress(expected - 1),
            timeout=max(600.0, alerts / 10),
            interval=1.0,
            what="every alert told",
        )
        # Levels due after the last alert was told (10 s after the last critical).
        time.sleep(12.0)
        wait_for(lambda: _progress(expected - 1), timeout=120, interval=1.0, what="levels told")
    finally:
        beat.stop()
        worker.stop()
    criticals = [
        float(r[0])
        for r in _query(
            """
            SELECT extract(epoch FROM min(m.sent_at) - a.first_seen_at)
            FROM alerts a JOIN slack_messages m ON m.alert_id = a.id
            WHERE a.tenant_id = :t AND a.severity = 'critical'
            GROUP BY a.id
            """
        )
    ]
    lateness: dict[int, list[float]] = {}
    for level, late in _query(
        """
        SELECT (ev.payload->>'level')::int,
               extract(epoch FROM min(m.sent_at) - (e.started_at + make_interval(
                 secs => ((e.policy->'levels'->((ev.payload->>'level')::int - 1))->>'delay')
                   ::float)))
        FROM alert_events ev
        JOIN escalations e ON e.id = (ev.payload->>'escalation_id')::uuid
        JOIN notifications n ON n.event_id = ev.id
        JOIN slack_messages m ON m.alert_id = ev.alert_id AND m.channel = n.channel
        WHERE ev.tenant_id = :t AND ev.action = 'escalated' AND m.sent_at >= ev.received_at
        GROUP BY ev.id, ev.payload, e.started_at, e.policy
        """
    ):
        lateness.setdefault(int(level), []).append(float(late))
    stats = stack.sandbox.stats()
    channels = ("#alerts-prod", "#critical-alerts", "#dev-team", "#ops-team")
    posted = [m for c in channels for m in stack.sandbox.messages(c)]
    # The tenant's budget counts new messages; thread lines go with the updates' budget.
    top_level = [m for m in posted if m["thread_ts"] is None]
    edits = [float(h["replaced_at"]) for m in posted for h in m.get("history", [])]
    probe = [
        float(m["received_at"])
        for m in stack.sandbox.messages(f"#{PROBE_TENANT_ID}")
        if PROBE in m["text"]
    ]
    folded = _query("SELECT count(*) FROM notifications WHERE tenant_id = :t AND state = 'folded'")
    return PriorityRun(
        alerts=expected,
        publish_seconds=publish_seconds,
        critical_seconds=sorted(criticals),
        level_lateness={k: sorted(v) for k, v in lateness.items()},
        rate_limited=sum(n for c, n in stats["rate_limited"].items() if c in channels),
        max_rate=max((stats["max_rate_per_channel"].get(c, 0) for c in channels), default=0),
        posts_per_minute=_busiest_minute([float(m["received_at"]) for m in top_level]),
        updates_per_minute=_busiest_minute(edits),
        rate_limit=10,
        untold=int(final["untold"]),
        told_seconds=max(0.0, float(final["last_told"] or last_publish) - last_publish),
        messages=len(posted),
        updates=sum(int(m.get("edits", 0)) for m in posted),
        other_tenant_seconds=(min(probe) - probe_sent) if probe else None,
        folded=int(folded[0][0]),
    )


def _busiest_minute(moments: list[float]) -> int:
    """The most events in any sliding 60 s window."""
    times = sorted(moments)
    busiest = start = 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 60.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"{percentile(values, 50):.2f} / {percentile(values, 99):.2f} / {max(values):.2f} s"
        f" (n={len(values)})"
    )


def priority_table(run: PriorityRun) -> Table:
    table = Table(
        title="Priority under pressure (rate_limit 10/min, Slack's limit enforced)",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_row("alerts published", f"{run.alerts:,} in {run.publish_seconds:.1f}s", "")
    table.add_row(
        "critical publish → Slack p50 / p99 / max", _spread(run.critical_seconds), "p99 ≤ 3 s"
    )
    for level, values in sorted(run.level_lateness.items()):
        table.add_row(
            f"escalation level {level}: due → Slack p50 / p99 / max",
            _spread(values),
            f"≤ one tick ({TICK:g} s)",
        )
    table.add_row("429 answers", f"{run.rate_limited:,}", "0")
    table.add_row("highest rate any channel saw", f"{run.max_rate}/s", "≤ 1/s")
    table.add_row(
        "new messages in any 60 s (tenant budget)",
        f"{run.posts_per_minute} (rate_limit {run.rate_limit}/min)",
        f"≤ {2 * run.rate_limit - 1} (a full bucket + a minute's refill)",
    )
    table.add_row(
        "chat.update calls: all / in any 60 s",
        f"{run.updates:,} / {run.updates_per_minute}",
        f"≤ {UPDATE_BUDGET + UPDATE_BURST - 1:g} in 60 s (budget {UPDATE_BUDGET:g}/min)",
    )
    table.add_row("alert messages folded into digests", f"{run.folded:,}", "")
    table.add_row("alerts with no slack_messages entry", f"{run.untold:,}", "0")
    table.add_row("last publish → every alert told", f"{run.told_seconds:.1f}s", "≤ 30 s")
    table.add_row(
        "messages ÷ alerts", f"{run.messages / max(1, run.alerts):.4f}", "1 without folding"
    )
    other = "not seen" if run.other_tenant_seconds is None else f"{run.other_tenant_seconds:.2f}s"
    table.add_row("another tenant's alert sent mid-storm → Slack", other, "≤ 0.5 s")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.priority", description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--alerts, --seconds and --concurrency must be positive")
    console = make_console()
    log_dir = args.log_dir or ROOT / ".alerting" / "bench-logs" / time.strftime(
        "priority-%Y%m%d-%H%M%S"
    )

    def log(message: str) -> None:
        console.log(message, highlight=False)

    with bench_stack(args.concurrency, log_dir) as stack:
        log(f"logs in {log_dir}")
        run = measure_priority(stack, args.alerts, args.seconds, log)
    console.print(priority_table(run))
    console.print(
        f"command: python -m bench.priority --alerts {args.alerts} --seconds {args.seconds:g}",
        highlight=False,
    )
    return 0 if run.untold == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
