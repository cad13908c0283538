"""docker-compose.yml is valid and describes the expected stack.

Only `compose config` runs, which needs the compose CLI but no Docker engine. A missing CLI is a
failure, not a skip: on Debian `apt-get install docker-compose`, elsewhere the compose plugin.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

APP_SERVICES = {
    "migrate",
    "web",
    "worker-shared",
    "worker-dedicated",
    "beat",
    "beat-standby",
    "flower",
}
EXPECTED_SERVICES = APP_SERVICES | {"postgres", "redis", "rabbitmq"}
APP_ENV = {
    "POSTGRES_URL": "postgresql://alerting:alerting@postgres:5432/alerting",
    "CELERY_BROKER_URL": "amqp://alerting:alerting@rabbitmq:5672/alerting",
    "REDIS_URL": "redis://redis:6379/0",
    "ALERTING_TENANTS_DIR": "/app/config/tenants",
    "PROMETHEUS_MULTIPROC_DIR": "/metrics",
}
PASSED_THROUGH = {
    "SLACK_WEBHOOK_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "ALERTING_SECRET_KEY",
}


def _compose_command() -> list[str]:
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    pytest.fail(
        "neither `docker-compose` nor `docker compose` is available; install one "
        "(Debian: apt-get install docker-compose) to validate docker-compose.yml"
    )


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*_compose_command(), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    config = yaml.safe_load(_compose("config").stdout)
    resolved: dict[str, Any] = config["services"]
    return resolved


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(published, target) pairs from either the short "8000:8000" or the long form."""
    pairs = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            published, _, target = str(port).rpartition(":")
            pairs.add((int(published.rpartition(":")[2]), int(target.split("/")[0])))
    return pairs


def test_config_is_valid() -> None:
    assert _compose("config", "-q").stdout == ""


def test_expected_services(services: dict[str, Any]) -> None:
    assert set(services) == EXPECTED_SERVICES


def test_app_services_share_image_and_environment(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == "slack-alerting:latest", name
        assert "build" in service, name
        env = service["environment"]
        for key, value in APP_ENV.items():
            assert env.get(key) == value, (name, key)
        assert set(env) >= PASSED_THROUGH, name


def test_startup_order(services: dict[str, Any]) -> None:
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES - {"migrate"}:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
    assert "healthcheck" in services["postgres"]
    assert "healthcheck" in services["redis"]
    assert "healthcheck" in services["rabbitmq"]
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["rabbitmq"]["condition"] == "service_healthy", name


def test_commands_and_ports(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]).endswith("alerting db upgrade && alerting tenants sync")
    assert _command(services["web"]) == "alerting web"
    # The dedicated tenant is served by its own pool only.
    assert (
        _command(services["worker-shared"]) == "alerting worker --exclude-tenants spotify-tenant-1"
    )
    assert _command(services["worker-dedicated"]) == "alerting worker --tenants spotify-tenant-1"
    assert _command(services["beat"]) == "alerting beat"
    # Two beats; the PostgreSQL lock lets one schedule at a time.
    assert _command(services["beat-standby"]) == "alerting beat"
    assert (15672, 15672) in _published_ports(services["rabbitmq"])
    assert "celery -A workers flower --port=5555 --basic-auth=" in _command(services["flower"])
    assert services["web"]["environment"]["ALERTING_WEB_HOST"] == "0.0.0.0"
    assert (8000, 8000) in _published_ports(services["web"])
    assert (5555, 5555) in _published_ports(services["flower"])


def test_stateful_services(services: dict[str, Any]) -> None:
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["rabbitmq"]["image"].endswith("-management")
    redis_command = _command(services["redis"])
    assert "--appendonly yes" in redis_command
