"""Session-wide real services; every test starts from empty tables and an empty sandbox.

Services come from POSTGRES_URL / REDIS_URL when set (CI, where a missing service fails the
run) and are started embedded otherwise (a laptop with only Python and make).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from alerting.integrations.standins import SERVICENOW_PASSWORD as STANDIN_SERVICENOW_PASSWORD
from alerting.integrations.standins import SERVICENOW_USER as STANDIN_SERVICENOW_USER
from tests.broker import empty_rabbitmq_queues
from tests.services import (
    ROOT,
    TEST_REDIS_DB,
    TEST_SECRET_KEY,
    ManagedProcess,
    SandboxClient,
    cli,
    free_port,
    fresh_database,
    prepare_database,
    redis_db_url,
    stack_environment,
    wait_for,
)

#: tenant-a's PagerDuty routing key and ServiceNow password: must never leak (encrypted at rest).
TEST_ROUTING_KEY = "R0utingKeyTenantA0000000000000x1"
TEST_SERVICENOW_PASSWORD = STANDIN_SERVICENOW_PASSWORD

_NOW = datetime.now(UTC)
TEST_TENANTS: dict[str, dict[str, Any]] = {
    "tenant-a": {
        "tenant_id": "tenant-a",
        "name": "Tenant A",
        "slack_config": {
            "default_channel": "#a-alerts",
            "escalation_channel": "#a-critical",
            "fallback_channel": "#a-fallback",
            "rate_limit": 600,
            "languages": ["en"],
            "environments": {"staging": {"channel": "#a-staging"}},
            # A bilingual channel.
            "channel_languages": {"#a-staging": ["fr", "en"]},
        },
        "escalation_policies": {
            # Pages PagerDuty and opens a ServiceNow incident at once, and nothing else.
            "paged": {"levels": [{"delay": 0, "pagerduty": True, "servicenow": True}]},
            "fast": {
                "levels": [
                    {"delay": 1, "channels": ["#a-dev"]},
                    {"delay": 3, "channels": ["#a-ops", "#a-mgmt"], "mention": "oncall:primary"},
                ],
            },
            # Named by the db route only; far enough away never to fire during a test.
            "db-leads": {"levels": [{"delay": 3600, "channels": ["#a-db-leads"]}]},
        },
        # Only `critical` alerts of type `escalating` would be too narrow: a severity attaches.
        "severity_policies": {"critical": "fast"},
        # Alerts without a `team` label route as if there were no tree.
        "route": {
            "routes": [
                {
                    "name": "db-team",
                    "matchers": ['team=~"db|dba"'],
                    "channels": ["#a-db"],
                    "mention": "<!subteam^S0ADBTEAM|@a-db>",
                    "escalation_policy": "db-leads",
                },
                {
                    # A storm's alerts become one digest per alert type.
                    "name": "grouped",
                    "matchers": ['grouped="yes"'],
                    "channels": ["#a-grouped"],
                    "group_by": ["alertname"],
                    "group_wait": 1,
                    "group_interval": 2,
                    "repeat_interval": 3600,
                },
            ]
        },
        # The instance URL is replaced with the sandbox's ServiceNow stand-in.
        "integrations": {
            "pagerduty": {"routing_key": TEST_ROUTING_KEY},
            "servicenow": {
                "instance_url": "https://standin.service-now.com",
                "username": STANDIN_SERVICENOW_USER,
                "password": TEST_SERVICENOW_PASSWORD,
            },
        },
        # A window open around the test run, and one that opens long after it.
        "maintenance_windows": [
            {
                "name": "db-migration",
                "environments": ["maint"],
                "timezone": "Europe/Paris",
                "start": (_NOW - timedelta(days=1)).isoformat(),
                "end": (_NOW + timedelta(days=1)).isoformat(),
            },
            {
                "name": "next-month",
                "environments": ["later"],
                "start": (_NOW + timedelta(days=30)).isoformat(),
                "end": (_NOW + timedelta(days=31)).isoformat(),
            },
        ],
        # A cluster that is down mutes the warnings of its own nodes.
        "inhibit_rules": [
            {
                "source_matchers": ["alertname=cluster_down"],
                "target_matchers": ["alertname=node_*", "severity=warning"],
                "equal": ["cluster"],
            }
        ],
        # Anomaly detection on (the tests shrink its buckets to a second).
        "anomaly_detection": {"enabled": True, "sensitivity": "medium"},
        # Daily handoff in Paris time; the tests ask the schedule who is on call right now.
        "oncall_schedules": {
            "primary": {
                "users": ["U0AAAAAA1", "U0BBBBBB2"],
                "handoff": "daily",
                "handoff_time": "09:00",
                "timezone": "Europe/Paris",
                "start": "2026-01-05",
            },
        },
    },
    "tenant-b": {
        "tenant_id": "tenant-b",
        "name": "Tenant B",
        "slack_config": {
            "default_channel": "#b-alerts",
            "rate_limit": 600,
            "languages": ["de", "en"],
            # Filled in with the sandbox's address: exercises a tenant's own (encrypted) webhook.
            "webhook_url": None,
            "channel_webhooks": {"#b-ops": None},
            "environments": {"ops": {"channel": "#b-ops"}},
        },
        # Flapping after three firings within ten minutes, stable after two quiet seconds.
        "flapping": {"fires": 3, "window": "10m", "stable_for": 2},
    },
}
TEST_TENANTS["tenant-w"] = {
    "tenant_id": "tenant-w",
    "name": "Tenant W",
    "slack_config": {
        "default_channel": "#w-alerts",
        "escalation_channel": "#w-critical",
        "fallback_channel": "#w-fallback",
        "rate_limit": 600,
        # Web API mode: threads and in-place updates.
        "bot_token": "xoxb-test-tenant-w-5f1c2a",
        "team_id": "T0TENANTW",
    },
    # Escalating from Slack is for one lead and the SRE user group only.
    "chatops": {"permissions": {"escalate": {"users": ["U0LEAD"], "groups": ["S0SRE"]}}},
    "route": {
        "routes": [
            {
                "matchers": ['grouped="yes"'],
                "channels": ["#w-grouped"],
                "group_by": ["alertname", "cluster"],
                "group_wait": 1,
                "group_interval": 2,
                "repeat_interval": 3600,
            }
        ]
    },
}
# The original design's tenant, as its documentation configures it (rate_limit 10, no routing
# tree), through the operator's webhook; and the same in Web API mode.
SEED_SLACK_CONFIG: dict[str, Any] = {
    "default_channel": "#alerts-prod",
    "escalation_channel": "#critical-alerts",
    "rate_limit": 10,
    "languages": ["fr", "en", "de"],
}
TEST_TENANTS["spotify-tenant-1"] = {
    "tenant_id": "spotify-tenant-1",
    "name": "Spotify Tenant 1",
    "slack_config": dict(SEED_SLACK_CONFIG),
}
TEST_TENANTS["spotify-tenant-w"] = {
    "tenant_id": "spotify-tenant-w",
    "name": "Spotify Tenant W",
    "slack_config": {**SEED_SLACK_CONFIG, "bot_token": "xoxb-test-seed-tenant-w-7d2e"},
}
TEST_TENANTS["tenant-c"] = {
    "tenant_id": "tenant-c",
    "name": "Tenant C",
    "slack_config": {
        "default_channel": "#c-alerts",
        "rate_limit": 600,
        # Web API mode: the incident's message is updated in place, members in its thread.
        "bot_token": "xoxb-test-tenant-c-7d2e9b",
        "team_id": "T0TENANTC",
    },
    "correlation": {"enabled": True, "window": "10m", "group_wait": 1, "group_interval": 1},
    "topology": {
        "label": "service",
        "depends_on": {"checkout": ["payments", "inventory"], "payments": ["orders-db"]},
    },
}
# The same, told through webhooks (messages cannot be edited).
TEST_TENANTS["tenant-d"] = {
    **TEST_TENANTS["tenant-c"],
    "tenant_id": "tenant-d",
    "name": "Tenant D",
    "slack_config": {"default_channel": "#d-alerts", "rate_limit": 600},
}
#: Signs the Slack button clicks of the tests.
TEST_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TABLES = (
    "alert_rate_buckets",
    "alert_rate_series",
    "anomaly_cursors",
    "prediction_models",
    "correlation_feedback",
    "incident_members",
    "incidents",
    "silences",
    "audit_log",
    "integration_calls",
    "escalations",
    "alert_messages",
    "notifications",
    "alert_group_members",
    "alert_groups",
    "flapping",
    "alert_events",
    "alerts",
    "api_keys",
    "users",
)


class Stack:
    """What a test can reach: URLs, the sandbox, the worker process, the tenants folder."""

    def __init__(
        self,
        env: dict[str, str],
        sandbox: SandboxClient,
        worker: ManagedProcess,
        tenants_dir: Path,
        log_dir: Path,
    ) -> None:
        self.env = env
        self.sandbox = sandbox
        self.worker = worker
        self.tenants_dir = tenants_dir
        self.log_dir = log_dir

    @property
    def postgres_url(self) -> str:
        return self.env["POSTGRES_URL"]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    @property
    def broker_url(self) -> str:
        """RabbitMQ when the run was given ALERTING_TEST_BROKER, else the Redis above."""
        return self.env.get("CELERY_BROKER_URL") or self.env["REDIS_URL"]


def _write_tenants(directory: Path, sandbox: SandboxClient) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for tenant_id, data in TEST_TENANTS.items():
        data = yaml.safe_load(yaml.safe_dump(data))
        slack = data["slack_config"]
        if "webhook_url" in slack:
            slack["webhook_url"] = sandbox.webhook_url(f"T0B/B0B/{tenant_id}")
        for channel in slack.get("channel_webhooks", {}):
            slack["channel_webhooks"][channel] = sandbox.webhook_url(f"T0B/B0C/{channel[1:]}")
        if "servicenow" in data.get("integrations", {}):
            data["integrations"]["servicenow"]["instance_url"] = f"{sandbox.base_url}/servicenow"
        (directory / f"{tenant_id}.yaml").write_text(yaml.safe_dump(data))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from alerting.embedded import ensure_services
    from alerting.settings import Settings

    if os.environ.get("CI") and not (
        os.environ.get("POSTGRES_URL") and os.environ.get("REDIS_URL")
    ):
        pytest.fail("CI must set POSTGRES_URL and REDIS_URL: the tests run on real services")
    base = tmp_path_factory.mktemp("stack")
    log_dir = Path(os.environ.get("ALERTING_TEST_LOGS", base / "logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    postgres_url, redis_url, services = ensure_services(
        Settings(), ROOT / ".alerting" / "test-services"
    )
    try:
        db_url = fresh_database(postgres_url, "alerting_test")
        test_redis = redis_db_url(redis_url, TEST_REDIS_DB)
        redis.Redis.from_url(test_redis).flushdb()

        sandbox_port = free_port()
        sandbox = SandboxClient(f"http://127.0.0.1:{sandbox_port}")
        tenants_dir = base / "tenants"
        _write_tenants(tenants_dir, sandbox)
        env = stack_environment(
            {
                "POSTGRES_URL": db_url,
                "REDIS_URL": test_redis,
                "SLACK_WEBHOOK_URL": sandbox.webhook_url(),
                "SLACK_API_URL": f"{sandbox.base_url}/api/",
                "ALERTING_SECRET_KEY": TEST_SECRET_KEY,
                "ALERTING_TENANTS_DIR": str(tenants_dir),
                "ALERTING_DATA_DIR": str(base / "data"),
                # Short timings so retry and recovery paths run in seconds, not minutes.
                "ALERTING_RETRY_BASE_SECONDS": "0.5",
                "ALERTING_RETRY_MAX_SECONDS": "4",
                "ALERTING_MAX_DELIVERY_ATTEMPTS": "4",
                "ALERTING_SLACK_TIMEOUT": "3",
                "ALERTING_SWEEP_AFTER_SECONDS": "2",
                "ALERTING_TENANT_POLL_SECONDS": "1",
                "ALERTING_BREAKER_FAILURES": "3",
                "ALERTING_BREAKER_COOLDOWN_SECONDS": "2",
                # Tests send bursts of several alerts to one channel and expect a message each
                # (Slack's pace makes the last ones wait seconds): fold only past 30 s.
                "ALERTING_MAX_WAIT": "30",
                "SLACK_SIGNING_SECRET": TEST_SIGNING_SECRET,
                "PAGERDUTY_EVENTS_URL": f"{sandbox.base_url}/pagerduty/v2/enqueue",
                "ALERTING_INTEGRATION_TIMEOUT": "3",
                "ALERTING_INTEGRATION_MAX_ATTEMPTS": "4",
                # Anomaly detection in seconds: 1 s buckets, 3 s windows, 10 s of probation.
                "ALERTING_ANOMALY_BUCKET": "1",
                "ALERTING_ANOMALY_WINDOW": "3",
                "ALERTING_ANOMALY_PROBATION": "10",
                "ALERTING_ANOMALY_CALM": "3",
                # Tenant webhooks point at the sandbox.
                "ALERTING_WEBHOOK_HOSTS": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        test_broker = os.environ.get("ALERTING_TEST_BROKER")
        if test_broker:
            # The broker-dependent tests again, on RabbitMQ (see tests/broker.py).
            env = stack_environment({**env, "CELERY_BROKER_URL": test_broker})
            empty_rabbitmq_queues(test_broker, list(TEST_TENANTS))
        prepare_database(db_url, tenants_dir)

        sandbox_proc = ManagedProcess(
            "sandbox", cli("sandbox", "--port", str(sandbox_port)), env, log_dir
        ).start()
        wait_for(lambda: sandbox.healthy(), what="the sandbox to answer", timeout=30)
        worker = ManagedProcess(
            "worker", cli("worker", "--concurrency", "2", "-l", "INFO"), env, log_dir
        ).start()
        try:
            _wait_worker(env.get("CELERY_BROKER_URL") or test_redis)
        except BaseException:
            worker.stop()
            sandbox_proc.stop()
            raise
        stack = Stack(env, sandbox, worker, tenants_dir, log_dir)
        yield stack
        worker.stop()
        sandbox_proc.stop()
    finally:
        services.stop()


def _wait_worker(broker_url: str) -> None:
    from workers.app import app

    def ready() -> bool:
        with app.connection_for_write(broker_url) as conn:
            replies = app.control.ping(timeout=0.5, connection=conn)
        return bool(replies)

    wait_for(ready, timeout=60, interval=0.5, what="the Celery worker to answer a ping")


@pytest.fixture
def clean(stack: Stack) -> Iterator[Stack]:
    """Empty queues and tables (tenants stay), empty sandbox with Slack's rate limit on."""
    from alerting.db.session import session_scope

    # A previous test's backlog still queued (a storm's events, paced deliveries) would
    # otherwise be ingested into this test's empty tables; first the queues, then the tables.
    broker = redis.Redis.from_url(stack.redis_url)
    for pattern in ("alerts.t.*", "alerts.ingest*"):
        for key in broker.scan_iter(pattern):
            if broker.type(key) == b"list":
                broker.delete(key)
    for attempt in range(5):
        try:
            with session_scope() as session:
                session.execute(text(f"TRUNCATE {', '.join(TABLES)} CASCADE"))
            break
        except OperationalError:
            # The worker may still be finishing the previous test's tasks: a deadlock with
            # TRUNCATE's table locks is possible and harmless; try again.
            if attempt == 4:
                raise
            time.sleep(0.2)
    stack.sandbox.reset()
    for key in [
        *broker.scan_iter("alerting:breaker:*"),
        *broker.scan_iter("alerting:rate:*"),
        # Lines waiting for slots, and pressure episodes of adaptive digests.
        *broker.scan_iter("alerting:wait:*"),
        *broker.scan_iter("alerting:fold:*"),
        *broker.scan_iter("alerting:inflight:*"),
    ]:
        broker.delete(key)
    stack.sandbox.configure(rate_limit=True, burst=1, per_second=1.0)
    yield stack
    if stack.worker.proc is not None and stack.worker.proc.poll() is not None:
        pytest.fail("the worker died during the test:\n" + stack.worker.log_tail())


@pytest.fixture
def web(clean: Stack) -> Iterator[TestClient]:
    """The web app, in process, on the test services."""
    from alerting.web.app import create_app

    with TestClient(create_app()) as client:
        yield client


@contextlib.contextmanager
def ticking(task: str, every: float = 0.3) -> Iterator[None]:
    """Send ``task`` every ``every`` seconds while the block runs, as `alerting beat` would
    (faster, so tests need not wait for beat's real periods)."""
    from workers.app import app

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(every):
            app.send_task(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(2)


@pytest.fixture
def beat(clean: Stack) -> Iterator[None]:
    """Escalation ticks every few hundred milliseconds."""
    with ticking("alerting.escalation_tick"):
        yield


@pytest.fixture
def flusher(clean: Stack) -> Iterator[None]:
    """Group flushes (digests, flapping alerts that settled) every few hundred milliseconds."""
    with ticking("alerting.group_flush"):
        yield
