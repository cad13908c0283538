"""``python -m bench.whatif``: alert throughput with suggested changes emulated.

Each variant gets a fresh worker (``bench.whatif_worker`` with ``BENCH_WHATIF`` set), the same
warm-up and the same throughput run as ``python -m bench``, one after the other on the same
services, so the differences are the changes' (give or take the machine's noise: run it twice).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from rich.table import Table

from alerting.queues import INGEST_QUEUE, MAINTENANCE_QUEUE, tenant_queue
from bench.harness import ROOT, TENANT_IDS, Stack, bench_stack
from bench.measure import Log, Throughput, measure_alerts, warm_up_alerts
from bench.names import ALERT_NODE
from bench.report import make_console
from bench.stats import MACHINE, Summary

DEFAULT_VARIANTS = (
    "baseline",
    "events_off",
    "no_preping",
    "tenant_cache",
    "events_off+no_preping+tenant_cache",
)
_TASKS = ("alerting.ingest", "alerting.route", "alerting.deliver")


def _run_variant(stack: Stack, variant: str, alerts: int, index: int, log: Log) -> Throughput:
    changes = [] if variant == "baseline" else variant.split("+")
    queues = [INGEST_QUEUE, MAINTENANCE_QUEUE, *(tenant_queue(t) for t in TENANT_IDS)]
    argv = [
        sys.executable, "-m", "celery", "-A", "bench.whatif_worker", "worker",
        "-Q", ",".join(queues), "-c", str(stack.concurrency), "-l", "INFO",
        "-n", f"{ALERT_NODE}-whatif{index}@%h",
    ]  # fmt: skip
    if "events_off" not in changes:
        argv.append("-E")  # as `alerting worker` passes it
    worker = stack.start(f"worker-{variant}", argv, {"BENCH_WHATIF": ",".join(changes)})
    try:
        stack.wait_worker(worker, ALERT_NODE)
        warm_up_alerts(stack, worker, 60, log, run=f"whatifwarm{index}")
        # A run name per variant: fingerprints of an earlier variant's alerts are still open.
        return measure_alerts(stack, worker, alerts, log, run=f"whatif{index}")
    finally:
        worker.stop()


def _median(values: list[float]) -> float:
    return Summary.of(values).p50


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif", description=__doc__)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of every variant; medians are shown"
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help="comma separated; each is 'baseline' or changes joined by '+'",
    )
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S-whatif")
    results: dict[str, list[Throughput]] = {v: [] for v in variants}
    with bench_stack(args.concurrency, log_dir) as stack:
        runs = 0
        for round_ in range(args.rounds):
            # Rotated each round, so no variant always runs first (cold) or last (big tables).
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                console.log(f"round {round_ + 1}: {variant}")
                results[variant].append(
                    _run_variant(stack, variant, args.alerts, runs, console.log)
                )
                runs += 1

    base = _median([r.per_second for r in results[variants[0]]])
    table = Table(
        title=f"What if (concurrency {args.concurrency}, {args.alerts} alerts per run, "
        f"{args.rounds} round(s), medians)",
        title_justify="left",
    )
    columns = ("variant", "alerts/s", "range", f"vs {variants[0]}",
               *(f"{t.split('.')[1]} ms" for t in _TASKS),
               "consumer CPU ms/alert", "pool CPU ms/alert", "other procs CPU s")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant, runs_of in results.items():
        rates = [r.per_second for r in runs_of]
        means = [
            _median([Summary.of(r.task_seconds.get(t, [])).mean * 1000 for r in runs_of])
            for t in _TASKS
        ]

        def per_alert(group: str, runs_of: list[Throughput] = runs_of) -> float:
            return _median([r.cpu_seconds.get(group, 0) / r.count * 1000 for r in runs_of])

        others = [
            r.cpu_seconds.get(MACHINE, 0) - sum(v for k, v in r.cpu_seconds.items() if k != MACHINE)
            for r in runs_of
        ]
        table.add_row(
            variant,
            f"{_median(rates):.1f}",
            f"{min(rates):.0f}-{max(rates):.0f}",
            f"{_median(rates) / base - 1:+.0%}",
            *(f"{m:.1f}" for m in means),
            f"{per_alert('worker'):.2f}",
            f"{per_alert('worker pool'):.2f}",
            f"{_median(others):.1f}",
        )
    console.print(table)
    console.print(f"logs: {log_dir}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
