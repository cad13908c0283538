"""``python -m bench.silences``: the muting check of one alert against a tenant's silences.

Times ``mute_for`` (what every routing and escalation tick runs) for one alert of a tenant
with no silences (the baseline), then with ``--silences`` silences that do not match it plus,
newest, the one that does, so that every silence is a candidate in order. For comparison, the
same check done the way it was before silences were indexed (every silence read and its
matchers parsed at each check) runs on the same data. Ratios are against the baseline.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table
from sqlalchemy import select, text

from bench.harness import ROOT, TENANT_IDS, bench_stack
from bench.report import make_console
from bench.stats import Summary


def _time(fn: Callable[[], object], repeat: int) -> Summary:
    for _ in range(5):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return Summary.of(samples)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.silences", description=__doc__)
    parser.add_argument("--silences", type=int, default=10_000, help="silences of the tenant")
    parser.add_argument("--repeat", type=int, default=100, help="checks timed per case")
    args = parser.parse_args(argv)
    console = make_console()
    log_dir = ROOT / ".alerting" / "bench-logs" / time.strftime("%Y%m%d-%H%M%S-silences")
    tenant_id = TENANT_IDS[0]

    with bench_stack(1, Path(log_dir)):
        from alerting.db.models import Alert, Silence
        from alerting.db.session import session_scope
        from alerting.domain.events import validate_event
        from alerting.domain.matchers import Matcher, alert_facts, matches_all
        from alerting.pipeline.ingest import ingest_event
        from alerting.pipeline.muting import MutingConfigs, mute_for

        event = validate_event(
            {
                "tenant_id": tenant_id,
                "alert_type": "disk_full",
                "severity": "warning",
                "message": "bench",
                "labels": {"host": "target", "team": "storage"},
            }
        )
        with session_scope() as session:
            alert_id = ingest_event(session, event, event_id=uuid.uuid4()).alert_id

        def indexed() -> object:
            with session_scope() as session:
                alert = session.get_one(Alert, alert_id)
                rules = MutingConfigs(session).get(tenant_id)
                return mute_for(session, rules, alert, datetime.now(UTC))

        def every_silence_parsed() -> object:
            # The check as it was: every active silence read, its matchers parsed, in order.
            with session_scope() as session:
                alert = session.get_one(Alert, alert_id)
                at = datetime.now(UTC)
                facts = alert_facts(
                    alert_type=alert.alert_type,
                    severity=alert.severity,
                    environment=alert.environment,
                    labels=alert.labels,
                )
                rows = session.execute(
                    select(Silence.id, Silence.matchers)
                    .where(
                        Silence.tenant_id == tenant_id,
                        Silence.expired_at.is_(None),
                        Silence.ends_at > at,
                        Silence.starts_at <= at,
                    )
                    .order_by(Silence.created_at)
                ).all()
                for silence_id, matchers in rows:
                    if matches_all((Matcher.parse(m) for m in matchers), facts):
                        return silence_id
                return None

        baseline = _time(indexed, args.repeat)
        assert indexed() is None
        with session_scope() as session:
            session.execute(
                text(
                    "INSERT INTO silences (id, tenant_id, matchers, starts_at, ends_at,"
                    " created_by, comment, created_at)"
                    " SELECT gen_random_uuid(), :tenant,"
                    " jsonb_build_array('host=\"h' || i || '\"', 'team=~\"st.*\"'),"
                    " now() - interval '1 minute', now() + interval '1 hour', 'bench', '',"
                    " now() - interval '1 minute' + (i || ' microseconds')::interval"
                    " FROM generate_series(1, :count) AS i"
                ),
                {"tenant": tenant_id, "count": args.silences - 1},
            )
            session.execute(
                text(
                    "INSERT INTO silences (id, tenant_id, matchers, starts_at, ends_at,"
                    " created_by, comment, created_at) VALUES (gen_random_uuid(), :tenant,"
                    " '[\"host=\\\"target\\\"\"]', now() - interval '1 minute',"
                    " now() + interval '1 hour', 'bench', '', now())"
                ),
                {"tenant": tenant_id},
            )
        assert indexed() is not None and every_silence_parsed() is not None
        with_index = _time(indexed, args.repeat)
        before = _time(every_silence_parsed, max(10, args.repeat // 10))

    table = Table(
        title=f"Muting check of one alert ({args.silences:,} silences, the match newest)",
        title_justify="left",
    )
    for column in ("case", "p50 ms", "p99 ms", "ratio to baseline (p50)"):
        table.add_column(column)
    rows = (
        ("no silences (baseline)", baseline),
        ("indexed (now)", with_index),
        ("every silence parsed (before)", before),
    )
    for name, summary in rows:
        table.add_row(
            name,
            f"{summary.p50 * 1000:.2f}",
            f"{summary.p99 * 1000:.2f}",
            f"{summary.p50 / baseline.p50:.1f}",
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
