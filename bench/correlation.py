"""``python -m bench.correlation``: how well alerts become incidents, against today's grouping.

Replays seeded synthetic streams whose every alert has a known cause:

- a dependency graph of 40 services in four layers (edge, api, backend, data stores), each
  depending on one to three services of the layers below, deployed in two clusters;
- failures that start at a service and cascade to what depends on it after random delays, each
  failing service firing a few alert types with variable tokens (hosts, numbers, durations,
  ids) and repeating them while it fails; incidents overlap in time (a service already failing
  for another cause fires nothing new: its open alerts would take the firings as repeats);
- about 30 % noise: flapping alerts (one cause each: the flapping series) and one-off alerts.

On the same streams it scores three groupers side by side: Alertmanager-style grouping by
``alertname`` and ``cluster`` (a group lives while its alerts keep coming, 5 minutes), a fixed
5-minute window, and this project's correlation (``alerting.intelligence.correlation``, the
code the service runs, its state in memory). For each: adjusted Rand index, pairwise F1 and
purity (scikit-learn's metrics), compression (1 - incidents / alerts) and per-alert assignment
latency, as the mean over the seeds.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.table import Table
from sklearn.metrics import adjusted_rand_score  # type: ignore[import-untyped]
from sklearn.metrics.cluster import (  # type: ignore[import-untyped]
    contingency_matrix,
    pair_confusion_matrix,
)

from alerting.domain.events import Severity
from alerting.intelligence.correlation import (
    AlertSignal,
    CorrelationState,
    Correlator,
    apply,
)
from alerting.intelligence.correlation_config import CorrelationConfig, TopologyConfig
from bench.report import make_console

LAYERS = (("edge", 6), ("api", 10), ("svc", 12), ("data", 12))
CLUSTERS = ("eu-west-1", "us-east-1")
#: Alert types by layer, with their message patterns ({h} host, {n} number, {d} duration...).
TYPES: dict[str, list[tuple[str, str]]] = {
    "edge": [
        ("HighErrorRate", "5xx rate {n}% on {h} for {d}"),
        ("HighLatency", "p99 latency {n}ms on {h} above SLO"),
        ("ProbeFailed", "blackbox probe to https://{h}/health failed after {d}"),
    ],
    "api": [
        ("HighErrorRate", "error rate {n}% on {h} for {d}"),
        ("HighLatency", "p99 latency {n}ms on {h} above SLO"),
        ("UpstreamTimeout", "request {x} to upstream timed out after {d} on {h}"),
    ],
    "svc": [
        ("QueueBacklog", "queue depth {n} on {h}, oldest message {d}"),
        ("HighErrorRate", "error rate {n}% on {h} for {d}"),
        ("PodRestarting", "pod {h}-{x} restarted {n} times in {d}"),
    ],
    "data": [
        ("ConnectionRefused", "connection refused by {ip} ({h}) {n} times"),
        ("ReplicationLag", "replica {h} lag {n}s behind primary"),
        ("DiskFull", "disk {n}% full on {h} volume /data"),
    ],
}
NOISE_TYPES = [
    ("CertificateExpiry", "certificate for {h} expires in {n} days"),
    ("CronJobFailed", "cron job {x} on {h} exited with code {n}"),
    ("NodeMemoryPressure", "memory {n}% used on node {h}"),
    ("DiskFull", "disk {n}% full on {h} volume /var/log"),
    ("PodRestarting", "pod {h}-{x} restarted {n} times in {d}"),
]
SEVERITIES = (Severity.CRITICAL, Severity.ERROR, Severity.WARNING)
#: Length of one replayed stream (seconds).
STREAM_SECONDS = 4 * 3600


@dataclass(frozen=True, slots=True)
class Event:
    signal: AlertSignal
    cluster: str
    cause: str


def build_graph(rng: random.Random) -> tuple[list[str], dict[str, str], dict[str, list[str]]]:
    """Service names, their layer, and what each depends on (the layers below it)."""
    services: list[str] = []
    layer_of: dict[str, str] = {}
    by_layer: list[list[str]] = []
    for layer, count in LAYERS:
        names = [f"{layer}-{word}" for word in _words(rng, count)]
        by_layer.append(names)
        services.extend(names)
        layer_of.update(dict.fromkeys(names, layer))
    depends_on: dict[str, list[str]] = {}
    for index, names in enumerate(by_layer[:-1]):
        below = by_layer[index + 1]
        lower = [s for layer in by_layer[index + 2 :] for s in layer]
        for service in names:
            deps = rng.sample(below, rng.randint(1, 2))
            if lower and rng.random() < 0.3:
                deps.append(rng.choice(lower))
            depends_on[service] = deps
    return services, layer_of, depends_on


def _words(rng: random.Random, count: int) -> list[str]:
    pool = [
        "auth", "cart", "search", "orders", "payments", "users", "ledger", "stock", "mail",
        "media", "gateway", "billing", "catalog", "pricing", "reviews", "shipping", "tax",
        "profile", "session", "feed", "events", "reports", "quota", "geo", "fraud", "notify",
    ]  # fmt: skip
    return rng.sample(pool, count)


def _message(rng: random.Random, pattern: str, host: str) -> str:
    return pattern.format(
        h=host,
        n=rng.randint(2, 999),
        d=f"{rng.randint(1, 59)}{rng.choice('sm')}",
        x=f"{rng.getrandbits(32):08x}",
        ip=f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    )


def generate_stream(seed: int) -> tuple[list[Event], TopologyConfig]:
    """One stream, ordered by time, and the topology block a tenant would write for it."""
    rng = random.Random(seed)
    services, layer_of, depends_on = build_graph(rng)
    dependents: dict[str, list[str]] = {s: [] for s in services}
    for service, deps in depends_on.items():
        for dep in deps:
            dependents[dep].append(service)
    events: list[Event] = []
    cause_count = 0

    def emit(at: float, service: str, cluster: str, kind: tuple[str, str], cause: str) -> None:
        host = f"{service}-{rng.randint(0, 9)}"
        labels = {
            "service": service,
            "cluster": cluster,
            "alertname": kind[0],
            "instance": f"{host}:9100",
            "team": layer_of[service],
        }
        signal = AlertSignal(
            alert_id=str(len(events)),
            at=at,
            alert_type=kind[0],
            severity_rank=rng.choice(SEVERITIES).rank,
            labels=labels,
            message=_message(rng, kind[1], host),
        )
        events.append(Event(signal, cluster, cause))

    # Incidents: a root failure cascading to dependents, overlapping in time.
    failing: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(rng.randint(12, 16)):
        cause_count += 1
        cause = f"incident-{cause_count}"
        cluster = rng.choice(CLUSTERS)
        root = rng.choice([s for s in services if layer_of[s] in ("data", "svc")])
        start = rng.uniform(0, STREAM_SECONDS - 1800)
        duration = rng.uniform(600, 1500)
        frontier = [(root, start)]
        seen = {root}
        while frontier:
            service, began = frontier.pop()
            kinds = rng.sample(TYPES[layer_of[service]], rng.randint(1, 2))
            end = start + duration
            spans = failing.setdefault((service, cluster), [])
            # A service already failing for another cause fires no new alerts: its open ones
            # would take the new firings as repeats (same fingerprint), as in any alerting
            # system. The failure still spreads through it.
            if not any(b < end and began < e for b, e in spans):
                spans.append((began, end))
                for kind in kinds:
                    at = began + rng.uniform(0, 30)
                    while at < end:
                        emit(at, service, cluster, kind, cause)
                        at += rng.uniform(60, 240)
            for up in dependents[service]:
                if up not in seen and rng.random() < 0.7:
                    seen.add(up)
                    frontier.append((up, began + rng.uniform(20, 180)))
    incident_alerts = len(events)
    # Noise: flapping series (one cause each) and one-off alerts, to about 30 % of the stream.
    target_noise = int(incident_alerts * 0.43)
    noise = 0
    while noise < target_noise:
        cause_count += 1
        cause = f"noise-{cause_count}"
        service = rng.choice(services)
        cluster = rng.choice(CLUSTERS)
        kind = rng.choice(NOISE_TYPES)
        if rng.random() < 0.8:
            at = rng.uniform(0, STREAM_SECONDS - 600)
            for _ in range(rng.randint(5, 14)):
                emit(at, service, cluster, kind, cause)
                at += rng.uniform(30, 150)
                noise += 1
        else:
            emit(rng.uniform(0, STREAM_SECONDS), service, cluster, kind, cause)
            noise += 1
    events.sort(key=lambda e: e.signal.at)
    topology = TopologyConfig(label="service", depends_on=depends_on)
    return events, topology


Grouper = Callable[[list[Event]], tuple[list[str], list[float]]]


def group_by_alertname_cluster(events: list[Event]) -> tuple[list[str], list[float]]:
    """Alertmanager: one group per (alertname, cluster) while its alerts keep coming."""
    groups: dict[tuple[str, str], tuple[str, float]] = {}
    labels: list[str] = []
    latencies: list[float] = []
    counter = 0
    for event in events:
        began = time.perf_counter()
        key = (event.signal.alert_type, event.cluster)
        current = groups.get(key)
        if current is None or event.signal.at - current[1] > 300:
            counter += 1
            current = (f"g{counter}", event.signal.at)
        groups[key] = (current[0], event.signal.at)
        labels.append(current[0])
        latencies.append(time.perf_counter() - began)
    return labels, latencies


def group_by_window(events: list[Event]) -> tuple[list[str], list[float]]:
    """A fixed 5-minute window: every alert of the same five minutes together."""
    labels: list[str] = []
    latencies: list[float] = []
    for event in events:
        began = time.perf_counter()
        labels.append(f"w{int(event.signal.at // 300)}")
        latencies.append(time.perf_counter() - began)
    return labels, latencies


def correlator_grouper(topology: TopologyConfig | None) -> Grouper:
    def group(events: list[Event]) -> tuple[list[str], list[float]]:
        correlator = Correlator(CorrelationConfig(enabled=True, window=600), topology)
        state = CorrelationState()
        labels: list[str] = []
        latencies: list[float] = []
        for index, event in enumerate(events):
            began = time.perf_counter()
            state.expire(event.signal.at, correlator.window)
            assignment = correlator.assign(event.signal, state)
            labels.append(apply(state, assignment, f"i{index}"))
            latencies.append(time.perf_counter() - began)
        return labels, latencies

    return group


@dataclass(frozen=True, slots=True)
class Scores:
    ari: float
    f1: float
    compression: float
    purity: float
    p50_ms: float
    p99_ms: float


def score(truth: Sequence[str], predicted: Sequence[str], latencies: Sequence[float]) -> Scores:
    (_tn, fp), (fn, tp) = pair_confusion_matrix(truth, predicted)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    matrix = contingency_matrix(truth, predicted)
    purity = float(np.sum(np.amax(matrix, axis=0)) / np.sum(matrix))
    ms = np.array(latencies) * 1000.0
    return Scores(
        ari=float(adjusted_rand_score(truth, predicted)),
        f1=float(f1),
        compression=1.0 - len(set(predicted)) / len(predicted),
        purity=purity,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
    )


def replay_through_postgres(
    events: list[Event], topology: TopologyConfig
) -> tuple[list[str], list[float]]:
    """The service's path: each alert stored, then placed by ``correlate_alert`` in its own
    transaction against the incidents in PostgreSQL (embedded unless POSTGRES_URL is set)."""
    import os
    import tempfile
    import uuid
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    import yaml

    from alerting.db.models import Alert
    from alerting.db.repositories import load_tenant
    from alerting.db.session import session_scope
    from alerting.embedded import ensure_services
    from alerting.pipeline.correlate import correlate_alert
    from alerting.secrets import SecretBox
    from alerting.settings import Settings, get_settings
    from alerting.testing import fresh_database, prepare_database

    root = Path(__file__).resolve().parent.parent
    postgres_url, _redis_url, services = ensure_services(
        Settings(), root / ".alerting" / "bench-services"
    )
    try:
        db_url = fresh_database(postgres_url, "alerting_bench_correlation")
        os.environ["POSTGRES_URL"] = db_url
        os.environ.setdefault("ALERTING_SECRET_KEY", SecretBox.generate_key())
        get_settings.cache_clear()
        with tempfile.TemporaryDirectory(prefix="alerting-bench-") as scratch:
            tenant = {
                "tenant_id": "bench-correlation",
                "name": "Bench correlation",
                "slack_config": {"default_channel": "#bench"},
                "correlation": {"enabled": True, "window": "10m"},
                "topology": topology.model_dump(),
            }
            Path(scratch, "bench-correlation.yaml").write_text(yaml.safe_dump(tenant))
            prepare_database(db_url, Path(scratch))
        box = SecretBox.from_settings(get_settings())
        with session_scope(db_url) as session:
            config = load_tenant(session, "bench-correlation", box).config
        epoch = datetime(2026, 1, 1, tzinfo=UTC)
        labels: list[str] = []
        latencies: list[float] = []
        for event in events:
            signal = event.signal
            at = epoch + timedelta(seconds=signal.at)
            with session_scope(db_url) as session:
                alert = Alert(
                    id=uuid.uuid4(),
                    tenant_id="bench-correlation",
                    fingerprint=uuid.uuid4().hex,
                    alert_type=signal.alert_type,
                    severity="error",
                    environment=None,
                    message=signal.message,
                    labels=dict(signal.labels),
                    annotations={},
                    status="firing",
                    count=1,
                    first_seen_at=at,
                    last_seen_at=at,
                )
                session.add(alert)
                session.flush()
                began = time.perf_counter()
                joined = correlate_alert(session, alert, config)
                session.commit()
                latencies.append(time.perf_counter() - began)
            labels.append(str(joined.incident_id))
        return labels, latencies
    finally:
        services.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.correlation", description=__doc__)
    parser.add_argument("--seeds", type=int, default=10, help="streams to replay (default 10)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also replay the first seed through the service's path (PostgreSQL, one "
        "transaction per alert) and report its scores and latency",
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds: at least 1")
    console = make_console()
    if args.postgres:
        events, topology = generate_stream(args.first_seed)
        predicted, latencies = replay_through_postgres(events, topology)
        db = score([e.cause for e in events], predicted, latencies)
        console.print(
            f"service path, seed {args.first_seed}, {len(events)} alerts through PostgreSQL: "
            f"ARI {db.ari:.3f}, F1 {db.f1:.3f}, compression {db.compression:.3f}, "
            f"assignment + commit p50 {db.p50_ms:.2f} ms, p99 {db.p99_ms:.2f} ms"
        )
    names = ("alertname+cluster", "5-min window", "correlation", "correlation, no topology")
    results: dict[str, list[Scores]] = {name: [] for name in names}
    sizes: list[tuple[int, int, float]] = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        events, topology = generate_stream(seed)
        truth = [e.cause for e in events]
        noise_share = sum(1 for c in truth if c.startswith("noise")) / len(truth)
        sizes.append((len(events), len(set(truth)), noise_share))
        groupers: dict[str, Grouper] = {
            names[0]: group_by_alertname_cluster,
            names[1]: group_by_window,
            names[2]: correlator_grouper(topology),
            # For reference: what the text, type, label and time signals do on their own.
            names[3]: correlator_grouper(None),
        }
        for name, grouper in groupers.items():
            predicted, latencies = grouper(events)
            results[name].append(score(truth, predicted, latencies))
    alerts = sum(s[0] for s in sizes) / len(sizes)
    causes = sum(s[1] for s in sizes) / len(sizes)
    noise = sum(s[2] for s in sizes) / len(sizes)
    console.print(
        f"{args.seeds} seeded streams: {alerts:.0f} alerts, {causes:.0f} causes, "
        f"{noise:.0%} noise per stream (means)"
    )
    table = Table(title="Grouping against the known causes (mean over seeds)")
    for column in ("grouper", "ARI", "pairwise F1", "compression", "purity", "p50 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "grouper" else "right")
    means: dict[str, Scores] = {}
    for name in names:
        runs = results[name]
        mean = Scores(*(float(np.mean([getattr(r, f) for r in runs])) for f in Scores.__slots__))
        means[name] = mean
        table.add_row(
            name,
            f"{mean.ari:.3f}",
            f"{mean.f1:.3f}",
            f"{mean.compression:.3f}",
            f"{mean.purity:.3f}",
            f"{mean.p50_ms:.3f}",
            f"{mean.p99_ms:.3f}",
        )
    console.print(table)
    ours = means["correlation"]
    baseline = max(means[names[0]].ari, means[names[1]].ari)
    checks = [
        ("ARI >= 0.85", ours.ari >= 0.85),
        ("pairwise F1 >= 0.90", ours.f1 >= 0.90),
        ("compression >= 0.90", ours.compression >= 0.90),
        (f"ARI >= better baseline + 0.15 ({baseline + 0.15:.3f})", ours.ari >= baseline + 0.15),
        ("p99 assignment <= 20 ms", ours.p99_ms <= 20.0),
    ]
    for label, ok in checks:
        console.print(f"{'met' if ok else 'MISSED'}: {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
