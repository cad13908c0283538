"""``python -m bench.alert_path``: the alert path in one process, without Celery.

Runs ingest → route → deliver exactly as the tasks do (same service functions, same
``session_scope``, same webhook handler, the sandbox as Slack), counting Postgres round trips
per stage with SQLAlchemy events, then times the usual suspects one by one: pool pre-ping,
commit, tenant load (SELECT, Fernet, pydantic), the formatter, a webhook post on a new
connection vs. a kept-alive one, publishing the next task.

Same services, database and tenants as ``python -m bench`` (it uses the same harness).
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, event, text

from alerting.testing import free_port
from bench.harness import ROOT, TENANT_IDS, bench_stack
from bench.measure import alert_fields
from bench.report import make_console
from bench.stats import Summary

STAGES = ("ingest", "route", "deliver")


@dataclass
class RoundTrips:
    """Postgres round trips seen through SQLAlchemy's events on one engine."""

    statements: int = 0
    commits: int = 0
    checkouts: int = 0

    def attach(self, engine: Engine) -> None:
        def on_statement(*_: Any) -> None:
            self.statements += 1

        def on_commit(*_: Any) -> None:
            self.commits += 1

        def on_checkout(*_: Any) -> None:
            self.checkouts += 1

        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "commit", on_commit)
        event.listen(engine.pool, "checkout", on_checkout)

    def snapshot(self) -> tuple[int, int, int]:
        return self.statements, self.commits, self.checkouts


def _time(fn: Callable[[], object], repeat: int, warmup: int = 10) -> Summary:
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return Summary.of(samples)


def run_path(
    alerts: int, trips: RoundTrips, run: str
) -> tuple[dict[str, list[float]], Counter[str]]:
    """Every alert through the three service functions; seconds and round trips per stage.

    ``run`` goes into the labels: a second run with the same fingerprints would only count
    repeats of open alerts, which send nothing.
    """
    from alerting.db.session import session_scope
    from alerting.domain.events import validate_event
    from alerting.pipeline.deliver import deliver_notification
    from alerting.pipeline.ingest import ingest_event
    from alerting.pipeline.route import route_event
    from alerting.secrets import SecretBox
    from alerting.settings import get_settings

    settings = get_settings()
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    seconds: dict[str, list[float]] = {stage: [] for stage in STAGES}
    counts: Counter[str] = Counter()

    def stage(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        before = trips.snapshot()
        started = time.perf_counter()
        result = fn(*args)
        seconds[name].append(time.perf_counter() - started)
        after = trips.snapshot()
        counts[f"{name} statements"] += after[0] - before[0]
        counts[f"{name} transactions"] += after[1] - before[1]
        counts[f"{name} checkouts"] += after[2] - before[2]
        return result

    def ingest(fields: dict[str, Any]) -> Any:
        # As the task: validate again, one transaction.
        alert_event = validate_event(fields, max_message_chars=settings.max_message_chars)
        with session_scope() as session:
            return ingest_event(session, alert_event, event_id=uuid.uuid4())

    def route(event_id: uuid.UUID) -> Any:
        # As the task: a SecretBox per task, one transaction.
        with session_scope() as session:
            return route_event(session, event_id, SecretBox(key))

    def deliver(notification_ids: list[uuid.UUID]) -> None:
        for notification_id in notification_ids:
            deliver_notification(
                notification_id, token=str(uuid.uuid4()), settings=settings, box=SecretBox(key)
            )

    for index in range(alerts):
        ingested = stage("ingest", ingest, alert_fields(run, index))
        routed = stage("route", route, ingested.event_id)
        stage("deliver", deliver, routed.notification_ids)
    return seconds, counts


def suspects(repeat: int) -> list[tuple[str, Summary, str]]:
    """Each suspect on its own, ``repeat`` times."""
    import httpx
    import redis
    import requests
    from slack_sdk.webhook import WebhookClient
    from sqlalchemy import create_engine, select

    from alerting.db.models import Alert, AuditEntry, Tenant
    from alerting.db.repositories import load_tenant
    from alerting.db.session import get_engine, session_scope
    from alerting.domain.tenants import TenantConfig
    from alerting.domain.views import MessageOptions, NotificationKind
    from alerting.pipeline.deliver import alert_view
    from alerting.producer import producer_app
    from alerting.secrets import SecretBox
    from alerting.settings import get_settings
    from alerting.slack.client import SlackWebhookHandler
    from alerting.slack.formatter import SlackAlertFormatter
    from workers.app import app as worker_app

    settings = get_settings()
    key = settings.secret_key.get_secret_value() if settings.secret_key else None
    box = SecretBox(key)
    engine = get_engine()
    no_ping = create_engine(engine.url, pool_pre_ping=False, pool_size=1)
    tenant_id = TENANT_IDS[1]  # one with its own encrypted webhook URL
    out: list[tuple[str, Summary, str]] = []

    def add(name: str, fn: Callable[[], object], note: str = "") -> None:
        out.append((name, _time(fn, repeat), note))

    def select_one() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    def select_one_no_ping() -> None:
        with no_ping.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()

    add("checkout + SELECT 1 (pool_pre_ping=True, as configured)", select_one, "2 round trips")
    add("checkout + SELECT 1 (pool_pre_ping=False)", select_one_no_ping, "1 round trip")

    def audit_txn(sync: bool) -> Callable[[], None]:
        def run() -> None:
            with session_scope() as session:
                if not sync:
                    session.execute(text("SET LOCAL synchronous_commit = off"))
                session.add(AuditEntry(tenant_id=tenant_id, actor="bench", action="x", detail={}))

        return run

    add("transaction: INSERT audit row + COMMIT", audit_txn(True), "WAL flush at commit")
    add(
        "  same with synchronous_commit=off",
        audit_txn(False),
        "+1 statement, no WAL flush wait",
    )

    def tenant_load() -> None:
        with session_scope() as session:
            load_tenant(session, tenant_id, box)

    add("load_tenant in its own transaction", tenant_load, "checkout+ping, BEGIN, SELECT, COMMIT")
    with session_scope() as session:
        row = session.get_one(Tenant, tenant_id)
        stored = dict(row.config)
        secret = stored["slack_config"]["webhook_url"]
        alert = session.scalars(select(Alert).limit(1)).one()
        view = alert_view(alert, load_tenant(session, tenant_id, box))
    plain = dict(stored)
    plain["slack_config"] = {k: v for k, v in stored["slack_config"].items() if k != "webhook_url"}
    add("  Fernet decrypt of the webhook URL", lambda: box.decrypt(secret))
    add("  SecretBox(key) (built per task)", lambda: SecretBox(key))
    add("  TenantConfig.model_validate", lambda: TenantConfig.model_validate(plain))
    formatter = SlackAlertFormatter()
    add(
        "SlackAlertFormatter.format",
        lambda: formatter.format(view, NotificationKind.FIRING, MessageOptions()),
    )

    url = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else ""
    payload = formatter.format(view, NotificationKind.FIRING, MessageOptions())
    payload["channel"] = "#bench-http"
    handler = SlackWebhookHandler(timeout=settings.slack_timeout)
    add(
        "webhook: SlackWebhookHandler.post (as deliver)",
        lambda: handler.post(url, payload),
        "slack_sdk WebhookClient/urllib: new TCP connection each",
    )
    http = requests.Session()
    add(
        "webhook: requests.Session().post, kept alive",
        lambda: http.post(url, json=payload, timeout=10).raise_for_status(),
        "one connection reused",
    )
    client = httpx.Client(timeout=10)
    add(
        "webhook: httpx.Client().post, kept alive",
        lambda: client.post(url, json=payload).raise_for_status(),
        "one connection reused",
    )
    add(
        "ssl.create_default_context()",
        ssl.create_default_context,
        "loads the CA bundle; what an HTTPS post without a context pays",
    )
    # An HTTPS post to a closed local port fails at connect, after the TLS set-up that
    # http.client does per connection: that set-up alone, as deliver pays it against Slack.
    closed = f"https://127.0.0.1:{free_port()}/services/T0/B0/x"
    shared_context = ssl.create_default_context()

    def https_attempt(context: ssl.SSLContext | None) -> Callable[[], None]:
        def run() -> None:
            client = WebhookClient(closed, timeout=1, retry_handlers=[], ssl=context)
            with contextlib.suppress(OSError):
                client.send_dict({"text": "x"})

        return run

    add(
        "https WebhookClient, ssl=None (as deliver), up to connect",
        https_attempt(None),
        "Python 3.11 http.client builds a default SSLContext per connection",
    )
    add(
        "https WebhookClient, one shared SSLContext, up to connect",
        https_attempt(shared_context),
        "WebhookClient(url, ssl=context)",
    )

    producer = producer_app()
    add(
        "publish: producer app send_task",
        lambda: producer.send_task("bench.none", queue="bench.none"),
        "as send_alert",
    )
    add(
        "publish: worker app send_task (task_send_sent_event)",
        lambda: worker_app.send_task("bench.none", queue="bench.none"),
        "as enqueue_route/enqueue_deliver in a task",
    )
    redis.Redis.from_url(settings.require_redis_url()).delete("bench.none")
    no_ping.dispose()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_path", description=__doc__)
    parser.add_argument("--alerts", type=int, default=300, help="alerts through the path")
    parser.add_argument("--repeat", type=int, default=300, help="runs of each suspect")
    args = parser.parse_args(argv)
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S-path")

    with bench_stack(1, Path(log_dir)) as stack:
        from alerting.db.session import get_engine

        stack.sandbox.configure(rate_limit=False)
        trips = RoundTrips()
        trips.attach(get_engine())
        # Warm-up: connections, imports, SQLAlchemy's statement cache.
        run_path(20, trips, "pathwarm")
        trips.statements = trips.commits = trips.checkouts = 0
        seconds, counts = run_path(args.alerts, trips, "path")
        micro = suspects(args.repeat)

    table = Table(title=f"Alert path in one process ({args.alerts} alerts)", title_justify="left")
    for column in ("stage", "mean ms", "p50 ms", "statements", "transactions", "checkouts"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name in STAGES:
        s = Summary.of(seconds[name])
        table.add_row(
            name,
            f"{s.mean * 1000:.2f}",
            f"{s.p50 * 1000:.2f}",
            f"{counts[f'{name} statements'] / args.alerts:.1f}",
            f"{counts[f'{name} transactions'] / args.alerts:.1f}",
            f"{counts[f'{name} checkouts'] / args.alerts:.1f}",
        )
    total = sum(sum(v) for v in seconds.values()) / args.alerts
    n_trips = (
        sum(counts[f"{n} statements"] for n in STAGES)
        + 2 * sum(counts[f"{n} transactions"] for n in STAGES)  # BEGIN and COMMIT
        + sum(counts[f"{n} checkouts"] for n in STAGES)  # pre-ping
    ) / args.alerts
    table.add_row(
        "[bold]per alert[/bold]", f"{total * 1000:.2f}", "", f"≈{n_trips:.0f} round trips", "", ""
    )
    console.print(table)

    micro_table = Table(title=f"Suspects, {args.repeat} runs each", title_justify="left")
    for column in ("what", "p50 ms", "mean ms", "note"):
        micro_table.add_column(column, justify="right" if "ms" in column else "left")
    for name, s, note in micro:
        micro_table.add_row(name, f"{s.p50 * 1000:.3f}", f"{s.mean * 1000:.3f}", note)
    console.print(micro_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
