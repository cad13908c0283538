"""The storm: 10 000 alerts in 10 seconds into one tenant, 20 alert types over 3 channels.

The sandbox enforces Slack's per-channel limit (one message per second, 429 beyond). The storm
tenant's routing tree sends each team's alert types to its channel, grouped by ``alertname``,
so the storm should become a few dozen digests, all within the limit, with every alert
accounted for in one of them. ``python -m bench.storm`` runs it alone; ``python -m bench`` runs
it as a phase.

Printed: alerts stored (must be all), Slack messages per channel, the highest rate any channel
saw, 429 answers (aim: zero), alerts accounted for in digests (must be all), the time from the
last alert in to the last message out, and the ratio of messages to alerts.
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
from bench.harness import ROOT, STORM_CHANNELS, STORM_TENANT_ID, TENANT_IDS, Stack, bench_stack
from bench.report import make_console

#: Alert types of the storm; type ``i`` belongs to team ``i % 3`` (its channel).
STORM_TYPES = 20
#: Another tenant's alert, sent in the middle of the storm: how long it took to reach Slack.
PROBE_TENANT_ID = TENANT_IDS[0]
PROBE = "probe from another tenant during the storm"
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StormRun:
    alerts: int
    publish_seconds: float
    stored: int
    accounted: int
    messages: dict[str, int]
    max_rate: dict[str, int]
    rate_limited: dict[str, int]
    #: From the last alert stored to the last message Slack received.
    drain_seconds: float
    #: From the first publish until every alert was told and every message sent.
    total_seconds: float
    digests: int
    #: Another tenant's alert sent mid-storm: seconds until Slack had it (None: never seen).
    other_tenant_seconds: float | None

    @property
    def all_messages(self) -> int:
        return sum(self.messages.values())


def _publish(count: int, seconds: float) -> tuple[float, float]:
    """``count`` alerts spread evenly over ``seconds``, and halfway one alert of another
    tenant; returns how long publishing took and when (epoch) that other alert was sent."""
    from alerting.producer import send_alert

    started = time.monotonic()
    probe_sent = 0.0
    for index in range(count):
        if index == count // 2:
            probe_sent = time.time()
            send_alert.delay(
                tenant_id=PROBE_TENANT_ID, alert_type="probe", severity="warning", message=PROBE
            )
        kind = index % STORM_TYPES
        send_alert.apply_async(
            kwargs={
                "tenant_id": STORM_TENANT_ID,
                "alert_type": f"storm_type_{kind:02}",
                "severity": "critical" if index % 50 == 0 else "warning",
                "message": f"storm alert #{index}",
                "labels": {"team": f"team-{kind % len(STORM_CHANNELS)}", "host": f"h{index:05}"},
            }
        )
        ahead = started + seconds * (index + 1) / count - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    return time.monotonic() - started, probe_sent


def _counts() -> dict[str, Any]:
    from alerting.db.session import get_engine

    with get_engine().connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT
                  (SELECT count(*) FROM alerts WHERE tenant_id = :t) AS stored,
                  (SELECT count(*) FROM alert_group_members m JOIN alert_groups g
                     ON g.id = m.group_id WHERE g.tenant_id = :t
                     AND m.told_in IS NOT NULL) AS accounted,
                  (SELECT count(*) FROM notifications WHERE tenant_id = :t
                     AND state IN ('pending', 'sending', 'retrying', 'held')) AS unsent,
                  (SELECT count(*) FROM notifications WHERE tenant_id = :t
                     AND kind = 'digest') AS digests,
                  (SELECT extract(epoch FROM max(received_at)) FROM alert_events
                     WHERE tenant_id = :t) AS last_in
                """
            ),
            {"t": STORM_TENANT_ID},
        ).one()
    return dict(row._mapping)


def measure_storm(stack: Stack, alerts: int, seconds: float, log: Log) -> StormRun:
    stack.sandbox.reset()
    stack.sandbox.configure(rate_limit=True, burst=1, per_second=1.0)
    # The real beat: group flushes (digests) every ALERTING_GROUP_TICK, as in production.
    beat = stack.start("storm-beat", [sys.executable, "-m", "alerting.cli", "beat"])
    log(f"storm: {alerts:,} alerts in {seconds:g}s into {STORM_TENANT_ID}")
    started = time.monotonic()
    publish_seconds, probe_sent = _publish(alerts, seconds)

    def settled() -> dict[str, Any] | None:
        counts = _counts()
        done = counts["stored"] == alerts and counts["accounted"] == alerts
        return counts if done and counts["unsent"] == 0 else None

    try:
        final = wait_for(settled, timeout=max(600.0, alerts / 10), interval=1.0, what="the storm")
    finally:
        # Later phases start their own beat; two would tick twice.
        beat.stop()
    total = time.monotonic() - started
    stats = stack.sandbox.stats()
    channels = set(STORM_CHANNELS)
    arrived = [m["received_at"] for c in STORM_CHANNELS for m in stack.sandbox.messages(c)]
    last_out = max(arrived, default=final["last_in"])
    probe = [
        m["received_at"]
        for m in stack.sandbox.messages(f"#{PROBE_TENANT_ID}")
        if PROBE in m["text"]
    ]
    return StormRun(
        alerts=alerts,
        publish_seconds=publish_seconds,
        stored=final["stored"],
        accounted=final["accounted"],
        messages={c: stats["per_channel"].get(c, 0) for c in STORM_CHANNELS},
        max_rate={c: stats["max_rate_per_channel"].get(c, 0) for c in STORM_CHANNELS},
        rate_limited={c: n for c, n in stats["rate_limited"].items() if c in channels},
        drain_seconds=float(last_out) - float(final["last_in"]),
        total_seconds=total,
        digests=int(final["digests"]),
        other_tenant_seconds=(min(probe) - probe_sent) if probe else None,
    )


def storm_table(run: StormRun) -> Table:
    table = Table(title="Storm (Slack's per-channel limit enforced)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("expected")
    table.add_row("alerts published", f"{run.alerts:,} in {run.publish_seconds:.1f}s", "")
    table.add_row("alerts stored", f"{run.stored:,}", "all")
    table.add_row("alerts accounted for in digests", f"{run.accounted:,}", "all")
    for channel, count in run.messages.items():
        table.add_row(f"Slack messages to {channel}", f"{count:,}", "")
    table.add_row(
        "highest rate any channel saw", f"{max(run.max_rate.values(), default=0)}/s", "≤ 1/s"
    )
    table.add_row("429 answers", f"{sum(run.rate_limited.values()):,}", "0")
    table.add_row("last alert in → last message out", f"{run.drain_seconds:.1f}s", "")
    table.add_row("first publish → all told and sent", f"{run.total_seconds:.1f}s", "")
    other = "not seen" if run.other_tenant_seconds is None else f"{run.other_tenant_seconds:.1f}s"
    table.add_row("another tenant's alert sent mid-storm → Slack", other, "")
    table.add_row(
        "messages ÷ alerts (ratio)",
        f"{run.all_messages / run.alerts:.4f}",
        "one message per alert would be 1",
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storm", description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--alerts, --seconds and --concurrency must be positive")
    console = make_console()
    log_dir = args.log_dir or ROOT / ".alerting" / "bench-logs" / time.strftime(
        "storm-%Y%m%d-%H%M%S"
    )

    def log(message: str) -> None:
        console.log(message, highlight=False)

    with bench_stack(args.concurrency, log_dir) as stack:
        worker = stack.start_alert_worker(slack_pace=True)
        log(f"worker {worker.name} ready; logs in {log_dir}")
        run = measure_storm(stack, args.alerts, args.seconds, log)
    console.print(storm_table(run))
    return 0 if run.stored == run.alerts == run.accounted else 1


if __name__ == "__main__":
    sys.exit(main())
