"""``python -m bench``: see the package docstring; ``--help`` for the options."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.table import Table

from bench.escalation import DEFAULT_TICK, EscalationRun, escalation_table, measure_escalation
from bench.harness import ROOT, bench_stack
from bench.measure import measure_alerts, measure_latency, measure_noops, warm_up_alerts
from bench.modes import ModeRun, measure_modes
from bench.priority import measure_priority, priority_table
from bench.render import RenderRun, add_arguments, check_arguments, measure_render
from bench.report import make_console, render
from bench.storm import StormRun, measure_storm, storm_table

#: Warm-up sizes: enough for every pool process to import, connect and run each code path.
NOOP_WARMUP = 500
ALERT_WARMUP = 60


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="No-op Celery tasks/s vs. alerts/s end to end, and latency at a steady rate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--alerts", type=int, default=2000, help="alerts in the throughput run")
    parser.add_argument("--noops", type=int, default=5000, help="no-op tasks in their run")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (both)")
    parser.add_argument(
        "--steady-seconds", type=float, default=15.0, help="length of the latency run"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="alerts/s in the latency run")
    parser.add_argument(
        "--mode-alerts",
        type=int,
        default=300,
        help="alerts per delivery mode (webhook vs. Web API), each fired then acknowledged",
    )
    parser.add_argument(
        "--skip-modes", action="store_true", help="leave out the delivery-mode comparison"
    )
    parser.add_argument(
        "--storm-alerts", type=int, default=10_000, help="alerts of the storm phase"
    )
    parser.add_argument(
        "--storm-seconds", type=float, default=10.0, help="the storm's publishing time, s"
    )
    parser.add_argument("--skip-storm", action="store_true", help="leave out the storm phase")
    parser.add_argument(
        "--priority-alerts", type=int, default=10_000, help="alerts of the priority phase"
    )
    parser.add_argument(
        "--priority-seconds", type=float, default=10.0, help="the priority storm's publishing time"
    )
    parser.add_argument("--skip-priority", action="store_true", help="leave out the priority phase")
    parser.add_argument(
        "--escalations",
        type=int,
        default=2000,
        help="escalations whose levels fall due at once (escalation phase, last)",
    )
    parser.add_argument(
        "--escalation-tick", type=float, default=DEFAULT_TICK, help="beat tick of that phase, s"
    )
    parser.add_argument(
        "--skip-escalation", action="store_true", help="leave out the escalation phase"
    )
    parser.add_argument(
        "--skip-render",
        action="store_true",
        help="leave out the render benchmark (template + formatter vs. json.dumps)",
    )
    add_arguments(parser)
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="worker and sandbox logs (default .alerting/bench-logs/<time>)",
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="afterwards, one more alert throughput run sampled by py-spy (pip install py-spy)",
    )
    return parser


def _command_line(argv: Sequence[str]) -> str:
    """How to run exactly this again, services included (passwords hidden)."""
    from sqlalchemy import make_url

    prefix: list[str] = []
    for name in ("POSTGRES_URL", "REDIS_URL"):
        value = os.environ.get(name)
        if value:
            try:
                shown = make_url(value).render_as_string(hide_password=True)
            except Exception:  # a Redis URL is not an SQLAlchemy URL; show it as given
                shown = value
            prefix.append(f"{name}={shown}")
    python = Path(sys.executable)
    exe = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else str(python)
    return shlex.join([*prefix, exe, "-m", "bench", *argv])


class Terminated(BaseException):
    """SIGTERM/SIGHUP: unwinds through bench_stack's clean-up like Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(args_list)
    if (
        min(
            args.alerts,
            args.noops,
            args.concurrency,
            args.mode_alerts,
            args.escalations,
            args.storm_alerts,
            args.priority_alerts,
        )
        < 1
        or args.rate <= 0
        or args.storm_seconds <= 0
        or args.priority_seconds <= 0
        or args.escalation_tick <= 0
    ):
        parser.error(
            "--alerts, --noops, --concurrency, --mode-alerts, --escalations, --escalation-tick, "
            "--storm-alerts, --storm-seconds and --rate must be positive"
        )
    check_arguments(parser, args)
    command = _command_line(args_list)  # before bench_stack points the environment elsewhere
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)

    console = make_console()
    log_dir: Path = args.log_dir or ROOT / ".alerting" / "bench-logs" / time.strftime(
        "%Y%m%d-%H%M%S"
    )

    def log(message: str) -> None:
        console.log(message, highlight=False)

    extra: list[Table] = []
    modes: list[ModeRun] = []
    renders: list[RenderRun] = []
    escalation: EscalationRun | None = None
    try:
        if not args.skip_render:
            # First, before any service or worker exists: pure CPU in this process, so it
            # gets a quiet machine, and the runs below are not disturbed by it either.
            log(f"render: {args.renders:,} renders and json.dumps per locale set")
            renders = measure_render(
                args.renders, args.render_warmup, interactive=args.render_buttons, log=log
            )
        with bench_stack(args.concurrency, log_dir) as stack:
            where = "embedded" if stack.embedded else "from POSTGRES_URL/REDIS_URL"
            log(f"services {where}; broker {stack.redis_url}; logs in {log_dir}")

            worker = stack.start_noop_worker()
            noop = measure_noops(stack, worker, args.noops, NOOP_WARMUP, log)
            # Stopped before the alert worker starts: it would otherwise take CPU from it.
            worker.stop()

            worker = stack.start_alert_worker()
            warm_up_alerts(stack, worker, ALERT_WARMUP, log)
            alerts = measure_alerts(stack, worker, args.alerts, log)
            latency = measure_latency(stack, worker, args.rate, args.steady_seconds, log)
            if args.py_spy:
                # A run of its own, so sampling never skews the figures above.
                from bench.profile import PySpy

                profiler = PySpy(stack, worker)
                log("py-spy: one more throughput run, sampled")
                measure_alerts(stack, worker, args.alerts, log, run="spy", on_start=profiler.start)
                extra.append(profiler.finish(args.alerts))
            if not args.skip_modes:
                # Last, on the same worker: the runs above keep the figures they always had.
                modes = measure_modes(stack, worker, args.mode_alerts, log)
            if not args.skip_storm:
                # Slack's real pace from here on (the storm measures it): a worker of its own.
                # Before the escalation phase, which leaves deliveries behind it.
                worker.stop()
                worker = stack.start_alert_worker(slack_pace=True)
                storm: StormRun = measure_storm(stack, args.storm_alerts, args.storm_seconds, log)
                extra.append(storm_table(storm))
            if not args.skip_priority:
                # The original design's tenant under pressure, on a worker and beat of its own
                # (Web API through the operator's bot token, a 1 s escalation tick).
                worker.stop()
                priority = measure_priority(stack, args.priority_alerts, args.priority_seconds, log)
                extra.append(priority_table(priority))
                worker = stack.start_alert_worker(slack_pace=True)
            if not args.skip_escalation:
                # Last: it starts a beat of its own and leaves deliveries behind it.
                escalation = measure_escalation(
                    stack, worker, args.escalations, log, tick=args.escalation_tick
                )
                extra.append(escalation_table(escalation))
    except (KeyboardInterrupt, Terminated) as stop:
        console.print("[yellow]interrupted; every process the bench started is stopped[/yellow]")
        return 128 + (stop.signum if isinstance(stop, Terminated) else signal.SIGINT)

    render(
        console,
        noop,
        alerts,
        latency,
        args.concurrency,
        extra,
        modes,
        renders,
        render_buttons=args.render_buttons,
    )
    console.print(f"command: {command}", highlight=False, soft_wrap=True)
    console.print(f"logs: {log_dir}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
