"""The real services the tests run against: Postgres, Redis, the Slack sandbox, a worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from sqlalchemy import create_engine, make_url, text

from alerting.db.session import normalise_url

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
#: Fernet key used by the test processes (tests only; never a real secret).
TEST_SECRET_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay open until every port is picked, or the kernel
    may hand the same just-closed port out twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll until ``predicate`` returns something truthy; fail with ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def fresh_database(base_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``base_url``; return its URL."""
    url = make_url(normalise_url(base_url))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def redis_test_url(base_url: str, db: int = 15) -> str:
    """The same Redis server, a database number of its own, so tests can flush it."""
    head, _, tail = base_url.partition("?")
    scheme, _, rest = head.partition("://")
    hostpart = rest.split("/", 1)[0]
    url = f"{scheme}://{hostpart}/{db}"
    return f"{url}?{tail}" if tail else url


class Process:
    """A child process with its output in a log file, stopped at teardown."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self, sig: int = 15, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(5)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "alerting.cli", *args]


class Sandbox:
    """Test-side client of the sandbox's control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def webhook_url(self, path: str = "T0TEST/B0TEST/shared") -> str:
        return f"{self.base_url}/services/{path}"

    def reset(self) -> None:
        self.http.post(f"{self.base_url}/sandbox/reset", timeout=5).raise_for_status()

    def configure(self, **options: Any) -> None:
        self.http.post(
            f"{self.base_url}/sandbox/config", json=options, timeout=5
        ).raise_for_status()

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        params = {"channel": channel} if channel else {}
        resp = self.http.get(f"{self.base_url}/sandbox/messages", params=params, timeout=5)
        resp.raise_for_status()
        return list(resp.json())

    def requests(self, channel: str | None = None) -> list[dict[str, Any]]:
        params = {"channel": channel} if channel else {}
        resp = self.http.get(f"{self.base_url}/sandbox/requests", params=params, timeout=5)
        resp.raise_for_status()
        return list(resp.json())

    def stats(self) -> dict[str, Any]:
        resp = self.http.get(f"{self.base_url}/sandbox/stats", timeout=5)
        resp.raise_for_status()
        return dict(resp.json())

    def fault(self, channel: str, **spec: Any) -> None:
        resp = self.http.post(
            f"{self.base_url}/sandbox/faults", json={"channel": channel, **spec}, timeout=5
        )
        resp.raise_for_status()

    def channel_state(self, channel: str, state: str) -> None:
        resp = self.http.post(
            f"{self.base_url}/sandbox/channels",
            json={"channel": channel, "state": state},
            timeout=5,
        )
        resp.raise_for_status()
