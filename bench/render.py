"""``python -m bench.render``: Slack messages rendered per second, against ``json.dumps``.

One render is what the deliver task does to turn an alert into a payload: the alert type's
Jinja2 template (compiled once, cached by the engine) and the Block Kit formatter, in the
channel's locales. Its baseline is a bare ``json.dumps`` of the very payload it produced,
timed the same number of times in the same run: the ratio renders/s ÷ dumps/s stays
comparable across machines and Python versions where the raw rates do not.

Pure CPU in this process: no services, no Celery. ``python -m bench`` runs it first, before
it starts any service, so nothing else competes for the CPU (``--skip-render`` leaves it out).
"""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerting.domain.events import Severity
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.slack.formatter import SlackAlertFormatter
from alerting.slack.templates import SlackTemplateEngine
from bench.harness import ROOT

#: Channel languages measured: each supported locale, and one bilingual channel (a second
#: language renders the template again and adds its blocks, so it costs more than one).
LOCALE_SETS: tuple[tuple[str, ...], ...] = (("en",), ("fr",), ("de",), ("fr", "en"))
#: Alert types measured: two with templates of their own, one served by ``default.j2``.
ALERT_TYPES = ("high_cpu", "service_down", "some_other_type")
DEFAULT_RENDERS = 20_000
DEFAULT_WARMUP = 300
#: A tenant with no template overrides: the engine still looks for them on every render.
TENANT_ID = "bench-render"

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RenderRun:
    """One locale set: ``count`` renders, then ``count`` dumps of the same payloads."""

    locales: tuple[str, ...]
    count: int
    render_seconds: float
    dumps_seconds: float
    #: Mean size of a payload as ``json.dumps`` writes it, in bytes (UTF-8).
    payload_bytes: float
    #: Mean Block Kit blocks per payload.
    blocks: float

    @property
    def label(self) -> str:
        return "+".join(self.locales)

    @property
    def renders_per_second(self) -> float:
        return self.count / self.render_seconds

    @property
    def dumps_per_second(self) -> float:
        return self.count / self.dumps_seconds

    @property
    def ratio(self) -> float:
        """renders/s ÷ dumps/s: the fraction of a bare serialisation's speed a render reaches."""
        return self.renders_per_second / self.dumps_per_second


def sample_views(now: datetime | None = None) -> list[AlertView]:
    """One alert per type in ALERT_TYPES, shaped like real ones: ten labels, a runbook and a
    dashboard link, a few repeats. Severities and environments differ so that the templates'
    branches (production note, staging one-liner) are part of the mix."""
    now = now or datetime.now(UTC)
    shapes: tuple[tuple[str, Severity, str, str], ...] = (
        (
            "high_cpu",
            Severity.CRITICAL,
            "production",
            "CPU at 97% for 10 minutes on web-7 (threshold 90%)",
        ),
        (
            "service_down",
            Severity.ERROR,
            "production",
            "checkout-api is not answering its health check: connection refused on :8443",
        ),
        (
            "some_other_type",
            Severity.WARNING,
            "staging",
            "queue depth of orders-eu is 12,408 messages <above> the 10,000 & rising",
        ),
    )
    views: list[AlertView] = []
    for index, (alert_type, severity, environment, message) in enumerate(shapes):
        labels = {
            "host": f"web-{7 + index}.eu-west-1.internal",
            "service": "checkout-api",
            "job": "node-exporter",
            "instance": f"10.0.{index}.17:9100",
            "region": "eu-west-1",
            "az": "eu-west-1b",
            "cluster": "prod-eu-1",
            "namespace": "payments",
            "team": "payments-sre",
            "pod": f"checkout-api-7f9c6d{index}b4-x2k9q",
        }
        views.append(
            AlertView(
                alert_id=f"3f2b8c1e-9a4d-4e7b-8c2f-1d6e5a9b0c{index:02d}",
                tenant_id=TENANT_ID,
                tenant_name="Acme Payments",
                alert_type=alert_type,
                severity=severity,
                message=message,
                status="firing",
                environment=environment,
                labels=labels,
                annotations={
                    "runbook_url": f"https://runbooks.example.com/alerts/{alert_type}",
                    "dashboard_url": "https://grafana.example.com/d/abc123/checkout?var-env=prod",
                    "description": "Raised by the bench; see the runbook.",
                },
                source="prometheus",
                count=3 + index,
                first_seen_at=now - timedelta(minutes=12 + index),
                last_seen_at=now - timedelta(seconds=30),
            )
        )
    return views


def _timed(fn: Callable[[Any], object], work: Sequence[Any]) -> float:
    """Seconds for ``fn`` over every item of ``work``, timed as one block.

    One pair of clock reads around the whole loop: a read per call would add its own cost to
    calls that take a few microseconds (``json.dumps``). Garbage left by earlier runs is
    collected first, so no run pays for another's; the collector stays on during the run, as
    a worker has it, since a render's allocations are part of what it costs.
    """
    gc.collect()
    started = time.perf_counter()
    for item in work:
        fn(item)
    return time.perf_counter() - started


def measure_render(
    count: int = DEFAULT_RENDERS,
    warmup: int = DEFAULT_WARMUP,
    *,
    interactive: bool = True,
    log: Log | None = None,
) -> list[RenderRun]:
    """For each of LOCALE_SETS: ``count`` renders of the sample alerts taken in turn, then
    ``count`` ``json.dumps`` of the payloads those renders give."""
    views = sample_views()
    kind = NotificationKind.FIRING
    runs: list[RenderRun] = []
    # An empty tenants directory, as in production for a tenant without overrides: the engine
    # then checks for an override file on every render (one or two stat calls), which belongs
    # to a render's cost. Without a directory it would skip that.
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tenants_dir:
        formatter = SlackAlertFormatter(SlackTemplateEngine(Path(tenants_dir)))
        for locales in LOCALE_SETS:
            options = MessageOptions(locales=locales, interactive=interactive)

            def render(view: AlertView, options: MessageOptions = options) -> dict[str, Any]:
                return formatter.format(view, kind, options)

            # Warm-up: compiles and caches the templates, reads the catalogs, loads Babel's
            # locale data; the first renders of a locale would otherwise count all of that.
            for index in range(warmup):
                render(views[index % len(views)])
            payloads = [render(view) for view in views]
            encoded = [json.dumps(payload) for payload in payloads]
            for index in range(warmup):
                json.dumps(payloads[index % len(payloads)])

            # The same order of alerts for both loops, built beforehand so that indexing is
            # not inside the timed loops.
            render_work = [views[index % len(views)] for index in range(count)]
            dumps_work = [payloads[index % len(payloads)] for index in range(count)]
            render_seconds = _timed(render, render_work)
            dumps_seconds = _timed(json.dumps, dumps_work)

            run = RenderRun(
                locales=locales,
                count=count,
                render_seconds=render_seconds,
                dumps_seconds=dumps_seconds,
                payload_bytes=sum(len(e.encode()) for e in encoded) / len(encoded),
                blocks=sum(len(p["blocks"]) for p in payloads) / len(payloads),
            )
            runs.append(run)
            if log is not None:
                log(
                    f"render {run.label}: {run.renders_per_second:,.0f} renders/s, "
                    f"{run.dumps_per_second:,.0f} json.dumps/s"
                )
    return runs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.render",
        description="Renders/s of template + formatter per locale vs. json.dumps/s.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``python -m bench`` shares with ``python -m bench.render``."""
    parser.add_argument(
        "--renders",
        type=int,
        default=DEFAULT_RENDERS,
        help="renders (and json.dumps) timed per locale",
    )
    parser.add_argument(
        "--render-warmup", type=int, default=DEFAULT_WARMUP, help="untimed renders per locale"
    )
    parser.add_argument(
        "--render-buttons",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="render with the Acknowledge/Resolve/Silence buttons (Web API mode)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.renders < 1 or args.render_warmup < 0:
        parser.error("--renders must be positive and --render-warmup not negative")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(args_list)
    check_arguments(parser, args)
    # Imported here: bench.report imports this module for RenderRun, so a module-level import
    # would be circular when this file runs as __main__.
    from bench.report import make_console, render_table

    console = make_console()

    def log(message: str) -> None:
        console.log(message, highlight=False)

    runs = measure_render(
        args.renders, args.render_warmup, interactive=args.render_buttons, log=log
    )
    console.print(render_table(runs, interactive=args.render_buttons))
    python = Path(sys.executable)
    exe = str(python.relative_to(ROOT)) if python.is_relative_to(ROOT) else str(python)
    command = shlex.join([exe, "-m", "bench.render", *args_list])
    console.print(f"command: {command}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
