"""What the bench runs on: services, a fresh database, tenants, the sandbox and the workers.

Modelled on the test suite's session fixture (``tests/conftest.py``), but self-contained: the
bench must not depend on test code, and it owns a database and a Redis db of its own so it can
run next to a test session without either wiping the other's data.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
import yaml

from alerting.testing import (
    ManagedProcess,
    SandboxClient,
    free_port,
    fresh_database,
    prepare_database,
    redis_db_url,
    stack_environment,
    wait_for,
)
from bench.names import ALERT_NODE, NOOP_NODE, NOOP_QUEUE

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
#: Embedded PostgreSQL/Redis data when POSTGRES_URL/REDIS_URL are not set.
SERVICES_DIR = ROOT / ".alerting" / "bench-services"
#: Dropped and recreated at every run.
BENCH_DATABASE = "alerting_bench"
#: Flushed at every run. The tests use 15 (conftest) and 14 (test_up's `alerting up`); a
#: worker of theirs on the bench's db would take the bench's tasks.
BENCH_REDIS_DB = 13
#: Tenants the alerts are spread over. Every other one has its own (encrypted) webhook URL, so
#: both webhook sources (tenant secret and the operator's SLACK_WEBHOOK_URL) are exercised.
TENANT_IDS = ("bench-a", "bench-b", "bench-c", "bench-d")
#: The Web API tenant of the delivery-mode comparison (``bench.modes``). Not in TENANT_IDS:
#: the throughput and latency runs stay webhook-only, so their figures keep their meaning.
API_TENANT_ID = "bench-api"
#: Its bot token: the sandbox accepts any token, and the schema wants ``xoxb-`` + [A-Za-z0-9-].
API_BOT_TOKEN = "xoxb-bench-0000000000-api"
API_TEAM_ID = "T0BENCHAPI"
#: Signs the Slack requests of the chatops phase (``bench.chatops``).
BENCH_SIGNING_SECRET = "bench-signing-secret-0000000000"
#: The tenant of the escalation benchmark (``bench.escalation``): webhook mode, one channel per
#: level, and a `primary` on-call schedule its second level pages.
ESCALATION_TENANT_ID = "bench-esc"
ESCALATION_CHANNELS = ("#bench-esc-1", "#bench-esc-2")


#: Messages per second per channel when the bench measures the pipeline rather than Slack's pace.
UNPACED_CHANNEL_RATE = 100_000

#: The storm's tenant (``bench.storm``): a routing tree grouping by alert type, one channel
#: per team, delivered through the operator's webhook.
STORM_TENANT_ID = "bench-storm"
STORM_CHANNELS = ("#storm-team-0", "#storm-team-1", "#storm-team-2")


#: The priority phase's tenant (``bench.priority``): the original design's tenant config.
PRIORITY_TENANT_ID = "bench-seed"


def _priority_tenant() -> dict[str, Any]:
    return {
        "tenant_id": PRIORITY_TENANT_ID,
        "name": "Bench seed tenant",
        "slack_config": {
            "default_channel": "#alerts-prod",
            "escalation_channel": "#critical-alerts",
            "rate_limit": 10,
            "languages": ["fr", "en", "de"],
        },
        "escalation_policies": {
            "sla-critical": {
                "levels": [
                    {"delay": 3, "channels": ["#dev-team"]},
                    {"delay": 10, "channels": ["#ops-team"]},
                ]
            }
        },
        "severity_policies": {"critical": "sla-critical"},
    }


def _storm_tenant() -> dict[str, Any]:
    return {
        "tenant_id": STORM_TENANT_ID,
        "name": "Bench storm",
        "slack_config": {"default_channel": "#storm-default", "rate_limit": 600},
        "route": {
            "group_by": ["alertname"],
            "group_wait": "5s",
            "group_interval": "30s",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": [f"team=team-{i}"], "channels": [channel]}
                for i, channel in enumerate(STORM_CHANNELS)
            ],
        },
    }


def _tenant_files(directory: Path, sandbox: SandboxClient) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for position, tenant_id in enumerate(TENANT_IDS):
        slack: dict[str, Any] = {
            "default_channel": f"#{tenant_id}",
            # The highest the schema accepts: the bench measures the pipeline, not a limit.
            "rate_limit": 100_000,
        }
        if position % 2:
            slack["webhook_url"] = sandbox.webhook_url(f"T0BENCH/B0BENCH/{tenant_id}")
        data = {"tenant_id": tenant_id, "name": f"Bench {tenant_id}", "slack_config": slack}
        (directory / f"{tenant_id}.yaml").write_text(yaml.safe_dump(data))
    # Web API mode: the bot token takes precedence over every webhook (send.destination_for),
    # and it is stored encrypted like bench-b's webhook URL, so both modes decrypt one secret.
    api: dict[str, Any] = {
        "tenant_id": API_TENANT_ID,
        "name": "Bench Web API",
        "slack_config": {
            "default_channel": f"#{API_TENANT_ID}",
            "rate_limit": 100_000,
            "bot_token": API_BOT_TOKEN,
            # Its Slack workspace: the chatops phase clicks and types as this team.
            "team_id": API_TEAM_ID,
        },
    }
    (directory / f"{API_TENANT_ID}.yaml").write_text(yaml.safe_dump(api))
    (directory / f"{STORM_TENANT_ID}.yaml").write_text(yaml.safe_dump(_storm_tenant()))
    (directory / f"{PRIORITY_TENANT_ID}.yaml").write_text(yaml.safe_dump(_priority_tenant()))
    escalation: dict[str, Any] = {
        "tenant_id": ESCALATION_TENANT_ID,
        "name": "Bench escalation",
        "slack_config": {"default_channel": ESCALATION_CHANNELS[0], "rate_limit": 100_000},
        "oncall_schedules": {
            "primary": {
                "users": ["U0BENCH01", "U0BENCH02"],
                "handoff": "daily",
                "timezone": "Europe/Paris",
                "start": "2026-01-01",
            }
        },
    }
    (directory / f"{ESCALATION_TENANT_ID}.yaml").write_text(yaml.safe_dump(escalation))


def _require_no_workers(redis_url: str) -> None:
    """Refuse to run when some other worker consumes from the bench's Redis db."""
    from alerting.producer import producer_app

    replies = producer_app().control.ping(timeout=1.0) or []
    if replies:
        names = sorted(name for reply in replies for name in reply)
        raise RuntimeError(
            f"workers not started by the bench answer on {redis_url}: {', '.join(names)}; "
            "they would take the bench's tasks (is something else using that Redis db?)"
        )


@dataclass
class Stack:
    """Services and processes of one bench run; processes stop when the stack closes."""

    env: dict[str, str]
    postgres_url: str
    redis_url: str
    sandbox: SandboxClient
    sandbox_process: ManagedProcess
    log_dir: Path
    concurrency: int
    embedded: bool
    _exits: contextlib.ExitStack = field(repr=False)

    def start(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> ManagedProcess:
        env = {**self.env, **extra_env} if extra_env else self.env
        process = ManagedProcess(name, argv, env, self.log_dir, cwd=ROOT).start()
        # Registered at once, so an error or Ctrl-C from here on still stops it.
        self._exits.callback(process.stop)
        return process

    def start_noop_worker(self) -> ManagedProcess:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.noop",
            "worker",
            "-Q",
            NOOP_QUEUE,
            "-c",
            str(self.concurrency),
            # The same options `alerting worker` passes: INFO logging (one line per task) and
            # task events, so both workers do the same per-task bookkeeping.
            "-l",
            "INFO",
            "-E",
            "-n",
            f"{NOOP_NODE}@%h",
        ]
        worker = self.start("noop-worker", argv)
        self.wait_worker(worker, NOOP_NODE)
        return worker

    def start_alert_worker(self, *, slack_pace: bool = False) -> ManagedProcess:
        """The alert worker. Without ``slack_pace`` its per-channel pace is lifted: the
        throughput, latency and mode runs measure the pipeline, not Slack's limit (hundreds of
        alerts go to one channel). The storm keeps the real pace: it is what it measures."""
        argv = [
            sys.executable,
            "-m",
            "alerting.cli",
            "worker",
            "--concurrency",
            str(self.concurrency),
            "-l",
            "INFO",
        ]
        extra = None if slack_pace else {"ALERTING_CHANNEL_RATE": str(UNPACED_CHANNEL_RATE)}
        worker = self.start("alert-worker", argv, extra)
        self.wait_worker(worker, ALERT_NODE)
        return worker

    def wait_worker(self, worker: ManagedProcess, node_prefix: str) -> None:
        """Until the worker answers a ping: it consumes from then on."""
        from alerting.producer import producer_app

        app = producer_app()

        def ready() -> bool:
            replies = app.control.ping(timeout=0.5) or []
            # `alerting worker` names itself shared-<pid>@<host>, the no-op one bench-noop@<host>.
            return any(
                name.partition("@")[0].startswith(node_prefix) for r in replies for name in r
            )

        wait_for(
            ready,
            timeout=60,
            interval=0.2,
            what=f"{worker.name} to answer a ping",
            alive=worker.check_alive,
        )


@contextlib.contextmanager
def bench_stack(concurrency: int, log_dir: Path) -> Iterator[Stack]:
    """Services, a fresh database with the bench tenants, an empty Redis db and the sandbox.

    Everything started here is stopped on exit, also on error or Ctrl-C.
    """
    from alerting.embedded import ensure_services
    from alerting.secrets import SecretBox
    from alerting.settings import Settings

    log_dir.mkdir(parents=True, exist_ok=True)
    exits = contextlib.ExitStack()
    try:
        # Read before the environment is changed below: these are the operator's services.
        base = Settings()
        postgres_url, redis_url, services = ensure_services(base, SERVICES_DIR)
        exits.callback(services.stop)
        db_url = fresh_database(postgres_url, BENCH_DATABASE)
        bench_redis = redis_db_url(redis_url, BENCH_REDIS_DB)
        redis.Redis.from_url(bench_redis).flushdb()

        scratch = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="alerting-bench-")))
        sandbox_port = free_port()
        sandbox = SandboxClient(f"http://127.0.0.1:{sandbox_port}")
        tenants_dir = scratch / "tenants"
        _tenant_files(tenants_dir, sandbox)
        env = stack_environment(
            {
                "POSTGRES_URL": db_url,
                "REDIS_URL": bench_redis,
                "SLACK_WEBHOOK_URL": sandbox.webhook_url(),
                "SLACK_API_URL": f"{sandbox.base_url}/api/",
                # A throwaway key: tenant webhook URLs are stored encrypted, as in production.
                "ALERTING_SECRET_KEY": SecretBox.generate_key(),
                "ALERTING_TENANTS_DIR": str(tenants_dir),
                "ALERTING_WEBHOOK_HOSTS": "127.0.0.1",
                "ALERTING_DATA_DIR": str(scratch / "data"),
                "PYTHONUNBUFFERED": "1",
                "SLACK_SIGNING_SECRET": BENCH_SIGNING_SECRET,
            }
        )
        _require_no_workers(bench_redis)
        prepare_database(db_url, tenants_dir)

        stack = Stack(
            env=env,
            postgres_url=db_url,
            redis_url=bench_redis,
            sandbox=sandbox,
            sandbox_process=ManagedProcess("sandbox", [], env, log_dir),
            log_dir=log_dir,
            concurrency=concurrency,
            embedded=bool(services.postgres_url or services.redis_url),
            _exits=exits,
        )
        stack.sandbox_process = stack.start(
            "sandbox",
            [sys.executable, "-m", "alerting.cli", "sandbox", "--port", str(sandbox_port)],
        )
        wait_for(
            sandbox.healthy,
            timeout=30,
            what="the sandbox to answer",
            alive=stack.sandbox_process.check_alive,
        )
        yield stack
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave workers behind.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            exits.close()
        finally:
            signal.signal(signal.SIGINT, previous)
