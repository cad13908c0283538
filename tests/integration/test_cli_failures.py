"""Every CLI command fails the same way: one clear line on stderr and a documented exit code
(alerting/cli_errors.py), never a traceback. Each command runs with its services missing, with
its services not answering, and with bad arguments."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click
import pytest

from alerting.cli import main
from tests.services import ROOT, cli

#: Exit codes of a failure, as documented in `alerting --help`.
FAILURE_CODES = {1, 2, 3}
NO_SERVICE = 3
SOME_ID = "00000000-0000-0000-0000-000000000001"
#: Arguments that get each command past its own checks to the services it needs. A command
#: added later without an entry runs without arguments, which must fail cleanly too.
NEEDS_SERVICES: dict[str, list[str]] = {
    "send": ["--tenant", "acme-payments", "--type", "x", "--severity", "info", "--message", "m"],
    "ack": [SOME_ID],
    "resolve": [SOME_ID],
    "alerts show": [SOME_ID],
    "alerts list": [],
    "tenants sync": [],
    "tenants list": [],
    "tenants create-key": ["acme-payments"],
    "tenants revoke-key": ["acme-payments", "abcdefghij"],
    "silence add": [
        *("--tenant", "acme-payments", "--matcher", "a=b", "--duration", "1h"),
        *("--author", "me", "--comment", "c"),
    ],
    "silence list": ["--tenant", "acme-payments"],
    "silence expire": [SOME_ID, "--tenant", "acme-payments"],
    "incidents list": ["--tenant", "acme-payments"],
    "incidents show": [SOME_ID],
    "incidents merge": [SOME_ID, SOME_ID],
    "incidents split": [SOME_ID, "--alerts", SOME_ID],
    "incidents ack": [SOME_ID],
    "incidents resolve": [SOME_ID],
    "db upgrade": [],
    "db current": [],
    "dead-letters list": [],
    "dead-letters show": ["1"],
    "dead-letters purge": ["--all", "--yes"],
    "users create": [
        *("--tenant", "acme-payments", "--email", "a@example.com", "--role", "viewer"),
        "--password-stdin",
    ],
    "users list": [],
    "users set-role": ["--tenant", "acme-payments", "--email", "a@example.com", "--role", "admin"],
    "users disable": ["--email", "a@example.com"],
    "worker": [],
    "beat": [],
    "web": [],
}
#: Servers that wait for their services rather than fail: not run against silent services.
WAITS_FOR_SERVICES = {"worker", "beat", "web"}
#: Commands that hand unknown options to Celery: their services are checked first.
PASSES_OPTIONS_ON = {"worker"}
#: Commands that need no service at all; `up` starts its own.
NEEDS_NONE = {
    "up",
    "sandbox",
    "secret-key",
    "tenants validate",
    "routes test",
    "oncall who",
    "templates check",
    "templates render",
}


def _commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[str]:
    found: list[str] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append(" ".join((*prefix, name)))
    return sorted(found)


ALL_COMMANDS = _commands()


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        # An empty data folder: no running `alerting up` to borrow services from.
        "ALERTING_DATA_DIR": str(tmp_path / "data"),
        "ALERTING_TENANTS_DIR": str(ROOT / "config" / "tenants"),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        cli(*args),
        env={**base, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_clean_failure(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode in FAILURE_CODES, f"{what}: exit {done.returncode}\n{done.stderr}"
    assert "Traceback" not in done.stderr + done.stdout, f"{what}:\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, f"{what}: expected one line on stderr, got:\n{done.stderr}"
    assert lines[0].startswith("error: "), f"{what}: {lines[0]}"


def test_the_table_knows_every_command() -> None:
    # A command in neither list still runs below (without arguments); this keeps the lists true.
    assert set(NEEDS_SERVICES) <= set(ALL_COMMANDS)
    assert set(ALL_COMMANDS) >= NEEDS_NONE


@pytest.mark.parametrize("command", [c for c in ALL_COMMANDS if c not in NEEDS_NONE])
def test_services_missing(command: str, tmp_path: Path) -> None:
    done = _run([*command.split(), *NEEDS_SERVICES.get(command, [])], tmp_path)
    _assert_clean_failure(done, command)
    if command in NEEDS_SERVICES:
        assert done.returncode == NO_SERVICE, done.stderr
        assert "POSTGRES_URL" in done.stderr or "REDIS_URL" in done.stderr
        assert "alerting up" in done.stderr, "says what to do"


@pytest.mark.parametrize(
    "command",
    [c for c in ALL_COMMANDS if c not in NEEDS_NONE and c not in WAITS_FOR_SERVICES],
)
def test_services_not_answering(command: str, tmp_path: Path) -> None:
    done = _run(
        [*command.split(), *NEEDS_SERVICES.get(command, [])],
        tmp_path,
        # Nothing listens on port 1.
        POSTGRES_URL="postgresql://alerting:s3cret@127.0.0.1:1/alerting",
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    _assert_clean_failure(done, command)
    if command in NEEDS_SERVICES:
        assert done.returncode == NO_SERVICE, done.stderr
        assert "cannot reach" in done.stderr
    assert "s3cret" not in done.stderr, "a password is never shown"


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_bad_arguments(command: str, tmp_path: Path) -> None:
    done = _run([*command.split(), "--no-such-option"], tmp_path)
    _assert_clean_failure(done, command)
    if command in PASSES_OPTIONS_ON:
        return
    assert done.returncode == 2
    assert "--no-such-option" in done.stderr and "--help" in done.stderr


def test_bad_values_name_the_option(tmp_path: Path) -> None:
    done = _run(
        [
            *("send", "--tenant", "acme-payments", "--type", "x", "--severity", "urgent"),
            *("--message", "m", "--label", "novalue"),
        ],
        tmp_path,
        REDIS_URL="redis://127.0.0.1:1/0",
    )
    _assert_clean_failure(done, "send with a bad label")
    assert done.returncode == 2 and "--label" in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = _run(["--debug", "alerts", "show", SOME_ID], tmp_path)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "POSTGRES_URL" in done.stderr


def test_help_documents_exit_codes_and_the_running_stack(tmp_path: Path) -> None:
    done = _run(["--help"], tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert ".alerting/services.json" in text and "alerting up" in text
    for code in ("0 done", "1 the operation failed", "2 bad input", "3 PostgreSQL or Redis"):
        assert code in text
