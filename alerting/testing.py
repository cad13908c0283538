"""Running the stack's parts as child processes and driving the Slack sandbox.

Used by the test suite and the benchmarks; producer teams can use it too, to test their own
alerting against a real worker and the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
from sqlalchemy import create_engine, make_url, text

from alerting.db.session import normalise_url

T = TypeVar("T")

#: Variables a test or bench stack must not inherit from the shell: a Slack token there would
#: switch tenants to Web API mode, a metrics folder would add files to every process.
AMBIENT_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
#: Variable prefixes this process adopts from a stack's environment.
STACK_PREFIXES = ("POSTGRES", "REDIS", "SLACK", "ALERTING", "CELERY")

#: Seconds a process gets to finish its current work after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0


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


def free_port() -> int:
    return free_ports(1)[0]


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 15.0,
    interval: float = 0.05,
    what: str = "condition",
    alive: Callable[[], None] | None = None,
) -> T:
    """Poll until ``predicate`` returns something truthy; ``alive`` may raise to give up early."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        if alive is not None:
            alive()
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def stack_environment(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a stack's child processes, and this process's settings after it."""
    for name in AMBIENT_VARIABLES:
        os.environ.pop(name, None)
    env = {**os.environ, **settings}
    os.environ.update({k: v for k, v in env.items() if k.startswith(STACK_PREFIXES)})
    from alerting.producer import producer_app
    from alerting.settings import get_settings

    # Settings and the producer app read before the stack's environment was set are stale.
    get_settings.cache_clear()
    producer_app.cache_clear()
    return env


def prepare_database(db_url: str, tenants_dir: Path) -> None:
    """Migrations, then the tenant files (refused if any is invalid), as `alerting up` does."""
    from alerting.db.migrate import upgrade
    from alerting.domain.tenants import load_tenants_dir
    from alerting.settings import get_settings
    from alerting.tenants_sync import sync_tenants

    upgrade(db_url)
    tenants, problems = load_tenants_dir(tenants_dir, get_settings().allowed_webhook_hosts)
    if problems:
        raise RuntimeError("invalid tenant files: " + "; ".join(str(p) for p in problems))
    sync_tenants(tenants)


def fresh_database(base_url: str, name: str) -> str:
    """Drop and create ``name`` on the server of ``base_url``; return its URL."""
    url = make_url(normalise_url(base_url))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def redis_db_url(base_url: str, db: int) -> str:
    """The same Redis server with database number ``db`` (one that may be flushed)."""
    head, _, tail = base_url.partition("?")
    scheme, _, rest = head.partition("://")
    hostpart = rest.split("/", 1)[0]
    url = f"{scheme}://{hostpart}/{db}"
    return f"{url}?{tail}" if tail else url


class ManagedProcess:
    """A child process in a session of its own, its output in a log file.

    A session of its own, so Ctrl-C in a terminal reaches only the parent, which stops its
    children in order, and so stopping one reaches its whole tree (Celery's pool).
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.proc.pid

    def start(self) -> ManagedProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise with the end of the log if the process has died."""
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        """Signal the whole process group; SIGKILL it if it has not exited in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class SandboxClient:
    """Client of the sandbox's control API (``/sandbox/...``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()

    def webhook_url(self, path: str = "T0000TEST/B0000TEST/shared") -> str:
        return f"{self.base_url}/services/{path}"

    def healthy(self) -> bool:
        try:
            return self.http.get(f"{self.base_url}/healthz", timeout=1).ok
        except OSError:
            return False

    def _get(self, path: str, **params: str) -> Any:
        resp = self.http.get(f"{self.base_url}{path}", params=params, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def _post(self, path: str, body: dict[str, Any]) -> None:
        self.http.post(f"{self.base_url}{path}", json=body, timeout=10).raise_for_status()

    def reset(self) -> None:
        self._post("/sandbox/reset", {})

    def configure(self, **options: Any) -> None:
        """``rate_limit`` (bool), ``burst`` (messages), ``per_second`` (messages a second)."""
        self._post("/sandbox/config", options)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return list(self._get("/sandbox/messages", **({"channel": channel} if channel else {})))

    def requests(self, channel: str | None = None) -> list[dict[str, Any]]:
        return list(self._get("/sandbox/requests", **({"channel": channel} if channel else {})))

    def stats(self) -> dict[str, Any]:
        return dict(self._get("/sandbox/stats"))

    def message_count(self) -> int:
        return int(self.stats()["messages"])

    def fault(self, channel: str, **spec: Any) -> None:
        """``responses=[500, 429, ...]`` (with ``retry_after``), or ``hold_seconds``+``count``."""
        self._post("/sandbox/faults", {"channel": channel, **spec})

    def delete_message(self, channel: str, ts: str) -> None:
        """As a Slack user deleting it: later updates of it get ``message_not_found``."""
        self._post("/sandbox/messages/delete", {"channel": channel, "ts": ts})

    def integrations(self) -> dict[str, Any]:
        """What the PagerDuty and ServiceNow stand-ins received (and their incidents)."""
        return dict(self._get("/sandbox/integrations"))

    def integration_fault(self, target: str, responses: list[int], retry_after: int = 1) -> None:
        """The next answers of ``pagerduty`` or ``servicenow`` are these status codes."""
        self._post(
            "/sandbox/integrations/faults",
            {"target": target, "responses": responses, "retry_after": retry_after},
        )

    def channel_state(self, channel: str, state: str) -> None:
        """``missing``, ``archived``, ``not_in_channel`` or ``ok``."""
        self._post("/sandbox/channels", {"channel": channel, "state": state})
