"""A real Alertmanager posts to the web app: its alerts reach Slack, then resolve.

Needs Alertmanager's binary (Debian: ``apt-get install prometheus-alertmanager``). In CI
(``CI`` set, ``.ci/run`` installs it) a missing binary fails the test; elsewhere it is skipped
with that hint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select

from alerting.db.models import Alert
from alerting.db.repositories import create_api_key
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import ROOT, ManagedProcess, cli, free_ports, wait_for

BINARIES = ("prometheus-alertmanager", "alertmanager")
INSTALL_HINT = "install it (Debian: apt-get install prometheus-alertmanager)"


def _find_binary() -> str | None:
    return next(filter(None, (shutil.which(name) for name in BINARIES)), None)


BINARY = _find_binary()
MISSING = f"Alertmanager's binary ({' or '.join(BINARIES)}) is not on PATH; {INSTALL_HINT}"
# Decided before the session's stack starts, so a laptop without it skips at once.
pytestmark = pytest.mark.skipif(BINARY is None and not os.environ.get("CI"), reason=MISSING)


def _config(web_port: int, api_key: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "slack-alerting",
            "group_by": ["alertname"],
            # Small, so the test's notifications go out within seconds.
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "slack-alerting",
                "webhook_configs": [
                    {
                        "url": f"http://127.0.0.1:{web_port}/api/v1/integrations/alertmanager/tenant-a",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials": api_key}
                        },
                    }
                ],
            }
        ],
    }


@pytest.fixture
def alertmanager(clean: Stack, tmp_path: Path) -> Iterator[str]:
    """Alertmanager's base URL; its webhook receiver posts to a web app of the stack."""
    if BINARY is None:
        pytest.fail(MISSING)
    web_port, am_port = free_ports(2)
    with session_scope() as session:
        api_key = create_api_key(session, "tenant-a")
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(_config(web_port, api_key)))
    web = ManagedProcess(
        "web-alertmanager", cli("web", "--port", str(web_port)), clean.env, clean.log_dir
    ).start()
    am = ManagedProcess(
        "alertmanager",
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            # One instance: no gossip, no cluster port.
            "--cluster.listen-address=",
        ],
        dict(os.environ),
        clean.log_dir,
    ).start()
    base = f"http://127.0.0.1:{am_port}"
    try:
        _wait_ready(f"http://127.0.0.1:{web_port}/healthz", web)
        _wait_ready(f"{base}/-/ready", am)
        yield base
    finally:
        am.stop()
        web.stop()


def _wait_ready(url: str, process: ManagedProcess) -> None:
    def ok() -> bool:
        try:
            return requests.get(url, timeout=1).ok
        except OSError:
            return False

    wait_for(ok, timeout=30, what=f"{process.name} to answer", alive=process.check_alive)


def _post_alerts(base: str, alerts: list[dict[str, Any]]) -> None:
    resp = requests.post(f"{base}/api/v2/alerts", json=alerts, timeout=5)
    assert resp.status_code == 200, resp.text


def _stored() -> dict[str, Alert]:
    with session_scope() as session:
        alerts = session.scalars(select(Alert).where(Alert.tenant_id == "tenant-a")).all()
        session.expunge_all()
    return {a.labels["instance"]: a for a in alerts}


def test_alertmanager_fires_and_resolves_through_slack(alertmanager: str, clean: Stack) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    alerts = [
        {
            "labels": {
                "alertname": "DiskFull",
                "instance": "db-1",
                "severity": "error",
                "env": "staging",
            },
            "annotations": {"summary": "Disk 97% full on db-1"},
            "startsAt": started.isoformat(),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk",
        },
        {
            "labels": {"alertname": "DiskFull", "instance": "db-2", "severity": "warning"},
            "annotations": {"description": "Disk 91% full on db-2"},
            "startsAt": started.isoformat(),
            "generatorURL": "http://prometheus.example:9090/graph?g0.expr=disk",
        },
    ]
    _post_alerts(alertmanager, alerts)

    found = wait_for(
        lambda: a if len(a := _stored()) == 2 else None,
        timeout=30,
        what="Alertmanager's two alerts stored",
    )
    db1, db2 = found["db-1"], found["db-2"]
    assert (db1.alert_type, db1.severity, db1.environment, db1.status) == (
        "DiskFull",
        "error",
        "staging",
        "firing",
    )
    assert (db2.severity, db2.environment, db2.message) == (
        "warning",
        None,
        "Disk 91% full on db-2",
    )
    assert db1.source == "http://prometheus.example:9090/graph?g0.expr=disk"
    wait_for(
        lambda: clean.sandbox.messages("#a-staging") and clean.sandbox.messages("#a-alerts"),
        timeout=30,
        what="the alerts in their channels",
    )
    (staging,) = clean.sandbox.messages("#a-staging")
    (default,) = clean.sandbox.messages("#a-alerts")
    assert "Disk 97% full on db-1" in str(staging)
    assert "Disk 91% full on db-2" in str(default)

    ended = datetime.now(UTC) - timedelta(seconds=1)
    _post_alerts(alertmanager, [{**alert, "endsAt": ended.isoformat()} for alert in alerts])
    wait_for(
        lambda: all(a.status == "resolved" for a in _stored().values()),
        timeout=30,
        what="both alerts resolved by Alertmanager",
    )
    wait_for(
        lambda: (
            len(clean.sandbox.messages("#a-staging")) == 2
            and len(clean.sandbox.messages("#a-alerts")) == 2
        ),
        timeout=30,
        what="the resolutions in the same channels",
    )
    assert "Resolved" in str(clean.sandbox.messages("#a-alerts")[-1])
    assert len(_stored()) == 2, "Alertmanager's resolution made no new alert"


def test_the_example_configuration_is_valid_and_points_at_the_receiver() -> None:
    example = ROOT / "config" / "alertmanager.yml"
    amtool = shutil.which("amtool", path=str(Path(str(BINARY)).parent))
    if amtool is None:
        pytest.fail(f"amtool is not next to {BINARY}; it ships with Alertmanager")
    checked = subprocess.run(
        [amtool, "check-config", str(example)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (receiver,) = yaml.safe_load(example.read_text())["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert "/api/v1/integrations/alertmanager/" in webhook["url"]
    assert webhook["send_resolved"] is True
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"
