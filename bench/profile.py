"""``--py-spy``: where the alert worker's pool processes spend their time.

py-spy samples the worker and its pool processes (``--subprocesses``) including waits
(``--idle``), so a sample stuck in a Postgres round trip counts like one burning CPU: for a
worker slot, time is time. Samples are attributed two ways:

* by library: the innermost frame that belongs to a known library (Postgres wait, SQLAlchemy,
  HTTP, pydantic, Fernet, slack_sdk, Celery/kombu, logging, …); each sample counts once;
* by code path: named functions of the pipeline, inclusive (a sample inside ``load_tenant``
  and inside ``deliver`` counts for both).

Sample counts become milliseconds per alert: samples ÷ rate ÷ alerts.
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from alerting.testing import ManagedProcess
from bench.harness import Stack

#: Samples per second. py-spy reads memory without stopping the process (--nonblocking), so
#: this costs the worker little; it does cost one CPU share on a 2-core machine.
RATE = 200

#: Optional class qualifier py-spy puts before a method's name ("DefaultDialect.do_execute").
_M = r"^(?:[\w<>]+\.)?"
# (label, pattern) — first match from the innermost frame outwards wins. A frame looks like
# "DefaultDialect.do_execute (sqlalchemy/engine/default.py:951)". Postgres and Redis round trips
# show as the Python frame that calls into the C driver or reads the socket.
LIBRARIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("Postgres: pool pre-ping (SELECT 1)", _M + r"(do_ping|_do_ping_w_event) \(sqlalchemy/"),
        ("Postgres: connect", _M + r"(connect|_connect) \(psycopg2/"),
        ("Postgres: statement round trip", _M + r"(do_execute|do_executemany) \(sqlalchemy/"),
        ("Postgres: commit round trip", _M + r"do_commit \(sqlalchemy/"),
        ("Postgres: rollback/reset on return", _M + r"(do_rollback|_reset|reset) \(sqlalchemy/"),
        (
            "Redis round trip (publishing the next task)",
            _M + r"(_read_from_socket|send_packed_command|can_read_destructive) \(redis/",
        ),
        (
            "HTTP: connection setup (DNS, TCP connect)",
            r"^(create_connection \(socket\.py|HTTPConnection\.connect \(http/client\.py)",
        ),
        ("HTTP: request + response", r"\((urllib/request|http/client|ssl|socket)\.py:\d+\)$"),
        ("Fernet decrypt", r"\(cryptography/"),
        ("pydantic validation", r"\(pydantic(_core)?/"),
        ("slack_sdk (Block Kit objects, webhook client)", r"\(slack_sdk/"),
        ("SQLAlchemy (Python side: compile, ORM, unit of work)", r"\(sqlalchemy/"),
        ("prometheus_client", r"\(prometheus_client/"),
        ("logging", r"\(logging/"),
        ("Celery/kombu/redis-py (Python side)", r"\((celery|kombu|redis|billiard)/"),
        ("json", r"\(json/"),
    )
)
# Inclusive code paths worth naming in the pipeline.
CODE_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("task ingest", r"^ingest \(workers/tasks/ingest\.py"),
        ("task route", r"^route \(workers/tasks/route\.py"),
        ("task deliver", r"^deliver \(workers/tasks/deliver\.py"),
        ("session_scope (begin, commit, close)", r"^session_scope \(alerting/db/session\.py"),
        ("load_tenant (SELECT + decrypt + validate)", r"^load_tenant \(alerting/db/repositories"),
        ("tenant_exists (ingest)", r"^tenant_exists \(alerting/db/repositories"),
        ("SlackAlertFormatter.format", r"^SlackAlertFormatter\.format \("),
        ("SlackWebhookHandler.post (HTTP to Slack)", r"^SlackWebhookHandler\.post \("),
        ("enqueue_route/enqueue_deliver (publish)", r"^enqueue_(route|deliver) \(alerting/"),
        ("validate_event (ingest)", r"^validate_event \("),
        ("pool pre-ping (checkout)", _M + r"(do_ping|_do_ping_w_event) \("),
        ("sessionmaker() per transaction", _M + r"__init__ \(sqlalchemy/orm/session\.py"),
    )
)
_TASK = re.compile(r"\(workers/tasks/")
_POOL = re.compile(r"\(billiard/pool\.py")


@dataclass(frozen=True, slots=True)
class Sample:
    frames: tuple[str, ...]
    count: int


def read_folded(path: Path) -> Iterator[Sample]:
    """py-spy's raw (collapsed) format: ``frame;frame;… count`` per line, outermost first.

    The root frames name processes (``process 123:"cmdline"``); they hold no ``;`` we care
    about, and the bench's command lines have no newlines.
    """
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield Sample(tuple(stack.split(";")), int(count))


def summarise(path: Path, alerts: int, rate: int = RATE) -> Table:
    libraries: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    pool_total = in_task = 0
    for sample in read_folded(path):
        if not any(_POOL.search(f) for f in sample.frames):
            continue  # the consumer (main process): see the CPU table instead
        pool_total += sample.count
        if not any(_TASK.search(f) for f in sample.frames):
            libraries["(pool process between tasks: waiting, result, ack)"] += sample.count
            continue
        in_task += sample.count
        libraries[_library(sample.frames)] += sample.count
        for label, pattern in CODE_PATHS:
            if any(pattern.search(f) for f in sample.frames):
                paths[label] += sample.count

    def ms(samples: int) -> str:
        return f"{samples / rate / alerts * 1000:.2f}"

    def share(samples: int) -> str:
        return f"{samples / pool_total:.0%}" if pool_total else "—"

    table = Table(
        title=f"py-spy: alert worker pool processes ({pool_total} samples at {rate}/s, "
        f"{in_task} inside tasks)",
        title_justify="left",
    )
    table.add_column("where (innermost library, exclusive)")
    table.add_column("ms / alert", justify="right")
    table.add_column("share", justify="right")
    for label, samples in libraries.most_common():
        table.add_row(label, ms(samples), share(samples))
    table.add_section()
    table.add_row("[bold]code path (inclusive)[/bold]", "", "")
    for label, _ in CODE_PATHS:
        table.add_row(label, ms(paths[label]), share(paths[label]))
    return table


def _library(frames: tuple[str, ...]) -> str:
    for frame in reversed(frames):
        for label, pattern in LIBRARIES:
            if pattern.search(frame):
                return label
    leaf = frames[-1]
    match = re.search(r"\(([^:()]+)", leaf)
    return f"other: {match[1] if match else leaf}"


class PySpy:
    """``py-spy record`` on the alert worker for the length of one measurement."""

    def __init__(self, stack: Stack, worker: ManagedProcess) -> None:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            raise RuntimeError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
        self.output = stack.log_dir / "alert-worker.folded"
        self.alerts = 0
        self._stack = stack
        self._argv = [
            exe,
            "record",
            "--pid",
            str(worker.pid),
            "--subprocesses",
            "--idle",
            "--nonblocking",
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--output",
            str(self.output),
        ]
        self._process: ManagedProcess | None = None

    def start(self) -> None:
        self._process = self._stack.start("py-spy", self._argv)
        # py-spy needs a moment to find the pool processes before the first sample.
        time.sleep(1.0)
        self._process.check_alive()

    def finish(self, alerts: int) -> Table:
        if self._process is None:
            raise RuntimeError("py-spy was never started")
        # SIGINT is py-spy's "stop and write the file".
        self._process.stop(sig=signal.SIGINT, timeout=30)
        if not self.output.is_file():
            raise RuntimeError(f"py-spy wrote no profile:\n{self._process.log_tail()}")
        return summarise(self.output, alerts)
