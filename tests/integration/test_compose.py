"""docker-compose.yml is valid and describes the expected stack.

The file is read as Compose reads it (YAML with anchors and merge keys) and checked without any
Docker tool. Two checks need something from the system:

* validation against the Compose Specification's JSON schema, with ``jsonschema``. The schema
  is the one the compose CLI ships (Debian's ``docker-compose`` package installs
  ``compose/config/compose_spec.json``), or any copy named by ``COMPOSE_SPEC_SCHEMA``;
* ``compose config -q``, which needs the compose CLI but no Docker engine.

Outside CI each is skipped, with the reason, when its tool is missing; in CI (``CI`` set,
``.ci/run`` installs ``docker-compose``) a missing tool fails it.
"""

from __future__ import annotations

import json
import os
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
#: Where packaged compose CLIs keep the specification's schema (Debian's docker-compose).
SCHEMA_GLOBS = ("/usr/lib/python3*/dist-packages/compose/config/compose_spec.json",)
INSTALL_HINT = "Debian: apt-get install docker-compose"


def _missing(what: str) -> None:
    """Skip outside CI; in CI the check must run, so its missing tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} ({INSTALL_HINT}); CI must run this check")
    pytest.skip(f"{what} ({INSTALL_HINT}); CI runs this check")


def _schema_path() -> Path | None:
    named = os.environ.get("COMPOSE_SPEC_SCHEMA")
    if named:
        return Path(named)
    for pattern in SCHEMA_GLOBS:
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return found[-1]
    return None


def _compose_command() -> list[str] | None:
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
    return None


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, Any]:
    resolved: dict[str, Any] = document["services"]
    return resolved


def test_matches_the_compose_specification(document: dict[str, Any]) -> None:
    from jsonschema import validators

    path = _schema_path()
    if path is None or not path.is_file():
        _missing("the Compose Specification's JSON schema is not installed")
        return
    schema = json.loads(path.read_text())
    validator = validators.validator_for(schema)(schema)
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    assert not problems, f"docker-compose.yml against {path}:\n" + "\n".join(problems)


def test_the_compose_cli_accepts_it() -> None:
    command = _compose_command()
    if command is None:
        _missing("neither `docker-compose` nor `docker compose` is installed")
        return
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, f"compose config failed ({result.returncode}):\n{result.stderr}"
    assert result.stdout == ""


def test_an_invalid_file_is_refused() -> None:
    """The schema check can fail: a misspelt key is reported with its path."""
    from jsonschema import validators

    path = _schema_path()
    if path is None or not path.is_file():
        _missing("the Compose Specification's JSON schema is not installed")
        return
    schema = json.loads(path.read_text())
    validator = validators.validator_for(schema)(schema)
    broken = {"services": {"web": {"image": "x", "depends_onn": ["db"]}}}
    errors = list(validator.iter_errors(broken))
    assert errors and "depends_onn" in errors[0].message


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
