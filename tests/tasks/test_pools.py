"""Worker pools: a dedicated pool serves only its tenants; the shared one picks up new tenants."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import yaml

from alerting import send_alert
from tests.conftest import TEST_TENANTS, Stack
from tests.services import ManagedProcess, cli, wait_for
from tests.tasks.helpers import all_sent, wait_details


def _queues_by_worker(stack: Stack) -> dict[str, set[str]]:
    from workers.app import app

    with app.connection_for_write(stack.redis_url) as conn:
        active = app.control.inspect(timeout=1.0, connection=conn).active_queues() or {}
    return {name: {q["name"] for q in queues} for name, queues in active.items()}


@pytest.fixture
def tenant_c(clean: Stack) -> Iterator[str]:
    data = yaml.safe_load(yaml.safe_dump(TEST_TENANTS["tenant-a"]))
    data["tenant_id"] = "tenant-c"
    data["slack_config"]["default_channel"] = "#c-alerts"
    path = clean.tenants_dir / "tenant-c.yaml"
    path.write_text(yaml.safe_dump(data))
    done = subprocess.run(cli("tenants", "sync"), env=clean.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    yield "tenant-c"
    path.unlink()


def test_shared_worker_subscribes_to_a_tenant_synced_while_it_runs(
    tenant_c: str, clean: Stack
) -> None:
    wait_for(
        lambda: any(
            {"alerts.t.tenant-c", "alerts.t.tenant-c.urgent"} <= q
            for q in _queues_by_worker(clean).values()
        ),
        timeout=20,
        interval=0.5,
        what="the shared worker to consume alerts.t.tenant-c and its urgent lane",
    )
    result = send_alert.delay(tenant_id=tenant_c, alert_type="x", severity="info", message="m")
    wait_details(result.id, all_sent)
    assert len(clean.sandbox.messages("#c-alerts")) == 1


def test_dedicated_pool_serves_only_its_tenants(clean: Stack) -> None:
    pool = ManagedProcess(
        "dedicated", cli("worker", "--tenants", "tenant-b", "-c", "1"), clean.env, clean.log_dir
    )
    pool.start()
    try:

        def dedicated() -> set[str] | None:
            for name, queues in _queues_by_worker(clean).items():
                if name.startswith("tenants-tenant-b"):
                    return queues
            return None

        queues = wait_for(dedicated, timeout=30, interval=0.5, what="the dedicated pool to start")
        assert queues == {"alerts.t.tenant-b.urgent", "alerts.t.tenant-b"}
    finally:
        pool.stop()


def test_tenants_validate_lists_every_problem(clean: Stack, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "good.yaml").write_text(
        yaml.safe_dump({**TEST_TENANTS["tenant-a"], "tenant_id": "good"})
    )
    (folder / "bad.yaml").write_text(
        yaml.safe_dump(
            {
                "tenant_id": "bad",
                "name": "Bad",
                "slack_config": {
                    "default_channel": "alerts",
                    "languages": ["it"],
                    "rate_limit": -1,
                    "colour": 1,
                },
            }
        )
    )
    (folder / "broken.yaml").write_text("tenant_id: [unclosed\n")
    (folder / "other.yaml").write_text(
        yaml.safe_dump({**TEST_TENANTS["tenant-a"], "tenant_id": "misnamed"})
    )
    done = subprocess.run(
        cli("tenants", "validate", "--dir", str(folder)),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    err = done.stderr
    for expected in (
        "bad.yaml: slack_config.default_channel: 'alerts' is not a channel",
        "bad.yaml: slack_config.languages: ",
        "bad.yaml: slack_config.rate_limit: ",
        "bad.yaml: slack_config.colour: unknown field",
        "broken.yaml: line ",
        "other.yaml: tenant_id: 'misnamed' does not match the file name",
    ):
        assert expected in err, err
    # Nothing is written when any file is invalid.
    synced = subprocess.run(
        cli("tenants", "sync", "--dir", str(folder)), env=clean.env, capture_output=True, text=True
    )
    assert synced.returncode == 1
    listed = subprocess.run(cli("tenants", "list"), env=clean.env, capture_output=True, text=True)
    assert "good" not in listed.stdout.split()


def test_plain_celery_worker_serves_every_tenant(clean: Stack) -> None:
    import socket
    import sys

    pool = ManagedProcess(
        "plain-celery",
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-c", "1", "-n", "plain@%h"],
        clean.env,
        clean.log_dir,
    )
    pool.start()
    try:

        def plain() -> set[str] | None:
            return _queues_by_worker(clean).get(f"plain@{socket.gethostname()}")

        queues = wait_for(plain, timeout=30, interval=0.5, what="the plain celery worker")
        assert {"alerts.ingest", "alerts.t.tenant-a", "alerts.t.tenant-b"} <= queues
    finally:
        pool.stop()
