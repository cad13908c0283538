"""The bench's output: compact rich tables."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table

from bench.measure import Latency, Throughput
from bench.modes import ModeRun
from bench.names import NOOP_TASK
from bench.render import ALERT_TYPES, RenderRun
from bench.stats import MACHINE, Summary

#: alerts/s ÷ no-op tasks/s the pipeline should reach: an alert is three tasks (ingest, route,
#: deliver), so 1/3 means the pipeline's own work costs next to nothing next to Celery's.
TARGET_RATIO = 0.33
_ALERT_TASKS = ("alerting.ingest", "alerting.route", "alerting.deliver")


def make_console() -> Console:
    """Rich's console; 120 columns when piped (Rich's 80 would wrap every table row)."""
    return Console(width=None if sys.stdout.isatty() else 120)


def _ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def headline(
    noop: Throughput,
    alerts: Throughput,
    latency: Latency,
    concurrency: int,
    modes: Sequence[ModeRun] = (),
) -> Table:
    ratio = alerts.per_second / noop.per_second
    style = "green" if ratio >= TARGET_RATIO else "red"
    lat = latency.summary
    table = Table(title=f"Bench (worker concurrency {concurrency})", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("detail", style="dim")
    table.add_row(
        "no-op tasks/s",
        f"{noop.per_second:,.0f}",
        f"{noop.count} tasks in {noop.seconds:.2f}s (publishing took {noop.publish_seconds:.2f}s)",
    )
    table.add_row(
        "alerts/s end to end",
        f"{alerts.per_second:,.1f}",
        f"{alerts.count} alerts in {alerts.seconds:.2f}s "
        f"(publishing took {alerts.publish_seconds:.2f}s), 3 tasks + 1 webhook each",
    )
    table.add_row(
        "ratio alerts/s ÷ no-op/s",
        f"[{style}]{ratio:.3f}[/{style}]",
        f"target {TARGET_RATIO:.2f}",
    )
    ours = sum(v for k, v in latency.cpu_seconds.items() if k != MACHINE)
    other = max(0.0, latency.cpu_seconds.get(MACHINE, ours) - ours)
    table.add_row(
        f"latency p50 / p99 @ {latency.rate:g}/s",
        f"{_ms(lat.p50)} / {_ms(lat.p99)} ms",
        f"{lat.count}/{latency.sent} alerts sent at {latency.achieved_rate:.1f}/s, "
        f"mean {_ms(lat.mean)} ms, max {_ms(lat.max)} ms (at +{latency.slowest_at:.1f}s); "
        f"CPU s: bench {ours:.1f}, other processes {other:.1f}",
    )
    _mode_rows(table, modes)
    return table


def _mode_rows(table: Table, modes: Sequence[ModeRun]) -> None:
    """Per delivery mode: alerts/s through fire + acknowledge and Slack calls/s; then the
    Web API ÷ webhook ratios (the first run is the baseline)."""
    if not modes:
        return
    for run in modes:
        deliver = Summary.of(run.deliver_seconds)
        ours, other = run.cpu_split
        table.add_row(
            f"{run.mode.name} mode: alerts/s, fire + ack",
            f"{run.per_second:,.1f}",
            f"{run.count} alerts ({run.mode.tenant_id}) in {run.seconds:.2f}s: last firing "
            f"post at +{run.fire_seconds:.2f}s, acks from +{run.ack_started:.2f}s; "
            f"CPU s: bench {ours:.1f}, other processes {other:.1f}",
        )
        table.add_row(
            f"{run.mode.name} mode: Slack calls/s",
            f"{run.calls_per_second:,.1f}",
            f"{run.calls} calls, {run.mode.calls} per alert; deliver task mean "
            f"{_ms(deliver.mean)} ms, p99 {_ms(deliver.p99)} ms ({deliver.count} tasks)",
        )
    base = modes[0]
    for run in modes[1:]:
        table.add_row(
            f"ratio {run.mode.name} ÷ {base.mode.name}: alerts/s",
            f"{run.per_second / base.per_second:.3f}",
            f"{run.per_second:,.1f} ÷ {base.per_second:,.1f} alerts/s",
        )
        table.add_row(
            f"ratio {run.mode.name} ÷ {base.mode.name}: Slack calls/s",
            f"{run.calls_per_second / base.calls_per_second:.3f}",
            f"{run.calls_per_second:,.1f} ÷ {base.calls_per_second:,.1f} calls/s",
        )


def task_table(noop: Throughput, alerts: Throughput, concurrency: int) -> Table:
    """Per-task time inside the pool process, as the worker logged it."""
    table = Table(title="Time per task (worker log, throughput runs)", title_justify="left")
    for column in ("task", "count", "mean ms", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "task" else "right")
    rows: list[tuple[str, Summary]] = [
        (NOOP_TASK, Summary.of(noop.task_seconds.get(NOOP_TASK, [])))
    ]
    rows += [(name, Summary.of(alerts.task_seconds.get(name, []))) for name in _ALERT_TASKS]
    for name, s in rows:
        table.add_row(name, str(s.count), _ms(s.mean), _ms(s.p50), _ms(s.p99))
    per_alert = sum(Summary.of(alerts.task_seconds.get(n, [])).mean for n in _ALERT_TASKS)
    if not math.isnan(per_alert) and per_alert > 0:
        table.add_row(
            "[bold]sum per alert[/bold]",
            "",
            f"[bold]{_ms(per_alert)}[/bold]",
            "",
            f"ceiling {concurrency / per_alert:,.0f} alerts/s",
        )
    return table


def cpu_table(noop: Throughput, alerts: Throughput) -> Table | None:
    """CPU seconds per process group during each throughput run (2 cores are shared)."""
    if not alerts.cpu_seconds:
        return None
    table = Table(title="CPU during the throughput runs", title_justify="left")
    table.add_column("process")
    table.add_column("no-op run: CPU s", justify="right")
    table.add_column("µs / task", justify="right")
    table.add_column("alert run: CPU s", justify="right")
    table.add_column("ms / alert", justify="right")
    groups: Mapping[str, str] = {
        "worker": "worker main process (consumer)",
        "worker pool": "worker pool processes (tasks)",
        "sandbox": "sandbox (Slack)",
        "postgres": "postgres (all backends)",
        "redis": "redis-server",
        "bench": "bench (publisher, poller)",
    }
    for group, label in groups.items():
        n = noop.cpu_seconds.get(group)
        a = alerts.cpu_seconds.get(group)
        table.add_row(
            label,
            "—" if n is None else f"{n:.2f}",
            "—" if n is None else f"{n / noop.count * 1e6:.0f}",
            "—" if a is None else f"{a:.2f}",
            "—" if a is None else f"{a / alerts.count * 1000:.2f}",
        )
    n_ours = sum(v for k, v in noop.cpu_seconds.items() if k != MACHINE)
    a_ours = sum(v for k, v in alerts.cpu_seconds.items() if k != MACHINE)
    table.add_row(
        "[bold]bench total[/bold]",
        f"{n_ours:.2f} of {noop.seconds:.2f}s wall",
        f"{n_ours / noop.count * 1e6:.0f}",
        f"{a_ours:.2f} of {alerts.seconds:.2f}s wall",
        f"{a_ours / alerts.count * 1000:.2f}",
    )
    # Anything else on the machine competes for the same cores and skews both runs.
    n_other = max(0.0, noop.cpu_seconds.get(MACHINE, n_ours) - n_ours)
    a_other = max(0.0, alerts.cpu_seconds.get(MACHINE, a_ours) - a_ours)
    table.add_row(
        "other processes on the machine",
        f"{n_other:.2f}",
        f"{n_other / noop.count * 1e6:.0f}",
        f"{a_other:.2f}",
        f"{a_other / alerts.count * 1000:.2f}",
    )
    cores = os.cpu_count() or 1
    table.caption = (
        f"{cores} CPUs: {cores * noop.seconds:.1f} (no-op run) and "
        f"{cores * alerts.seconds:.1f} (alert run) CPU seconds available"
    )
    return table


def stage_table(stages: Mapping[str, Summary]) -> Table:
    table = Table(
        title="Latency by stage @ steady rate (Postgres timestamps)", title_justify="left"
    )
    for column in ("stage", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, s in stages.items():
        table.add_row(name, _ms(s.p50), _ms(s.p99))
    return table


def render_table(runs: Sequence[RenderRun], *, interactive: bool) -> Table:
    """Renders/s per locale set next to json.dumps/s of the same payloads, and their ratio."""
    table = Table(
        title="Render: template + formatter, in process, vs. json.dumps of its payload",
        title_justify="left",
    )
    for column in (
        "locales",
        "renders/s",
        "µs / render",
        "json.dumps/s",
        "µs / dump",
        "ratio renders ÷ dumps",
        "payload",
    ):
        table.add_column(column, justify="left" if column == "locales" else "right")
    for run in runs:
        table.add_row(
            run.label,
            f"{run.renders_per_second:,.0f}",
            f"{run.render_seconds / run.count * 1e6:.1f}",
            f"{run.dumps_per_second:,.0f}",
            f"{run.dumps_seconds / run.count * 1e6:.1f}",
            f"{run.ratio:.3f}",
            f"{run.payload_bytes:,.0f} B, {run.blocks:.1f} blocks",
        )
    if runs:
        buttons = "with buttons" if interactive else "without buttons"
        table.caption = (
            f"{runs[0].count:,} renders and as many json.dumps per locale set, one thread; "
            f"firing alerts of types {', '.join(ALERT_TYPES)} in turn, {buttons}"
        )
    return table


def render(
    console: Console,
    noop: Throughput,
    alerts: Throughput,
    latency: Latency,
    concurrency: int,
    extra: Sequence[Table] = (),
    modes: Sequence[ModeRun] = (),
    renders: Sequence[RenderRun] = (),
    render_buttons: bool = True,
) -> None:
    console.print(headline(noop, alerts, latency, concurrency, modes))
    console.print(task_table(noop, alerts, concurrency))
    cpu = cpu_table(noop, alerts)
    if cpu is not None:
        console.print(cpu)
    console.print(stage_table(latency.stages))
    if renders:
        console.print(render_table(renders, interactive=render_buttons))
    for table in extra:
        console.print(table)
