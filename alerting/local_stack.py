"""What a running ``alerting up`` started, so the CLI in another terminal can use it.

``alerting up`` writes ``<data dir>/services.json`` (the URLs of PostgreSQL and Redis it uses,
and its pid) and removes it when it stops. Any other ``alerting`` command run from the same
folder reads it when ``POSTGRES_URL`` / ``REDIS_URL`` are unset, together with the secret key
``alerting up`` keeps in ``<data dir>/secret.key``, so nothing needs exporting. A record whose
process is gone (killed, machine restarted) is ignored.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

RECORD_FILE = "services.json"
SECRET_KEY_FILE = "secret.key"


@dataclass(frozen=True, slots=True)
class RunningStack:
    postgres_url: str
    redis_url: str
    pid: int


def record_stack(data_dir: Path, *, postgres_url: str, redis_url: str) -> Path:
    """Record this process's stack; readable by the owner only (the URLs may hold passwords)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / RECORD_FILE
    partial = path.with_suffix(".tmp")
    partial.write_text(
        json.dumps({"postgres_url": postgres_url, "redis_url": redis_url, "pid": os.getpid()})
    )
    partial.chmod(0o600)
    partial.replace(path)
    return path


def forget_stack(data_dir: Path) -> None:
    """Remove the record if it is this process's (a newer ``alerting up`` may have replaced it)."""
    path = data_dir / RECORD_FILE
    found = read_stack(data_dir)
    if found is not None and found.pid == os.getpid():
        path.unlink(missing_ok=True)


def read_stack(data_dir: Path) -> RunningStack | None:
    """The running stack recorded under ``data_dir``, or None (none, unreadable, or stopped)."""
    try:
        raw = json.loads((data_dir / RECORD_FILE).read_text())
        found = RunningStack(str(raw["postgres_url"]), str(raw["redis_url"]), int(raw["pid"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        logger.debug("ignoring an unreadable %s", data_dir / RECORD_FILE, exc_info=True)
        return None
    return found if _alive(found.pid) else None


def use_running_stack(data_dir: Path) -> RunningStack | None:
    """Fill ``POSTGRES_URL`` / ``REDIS_URL`` (and the secret key) from a running ``alerting up``
    for this process, where they are unset. Returns the stack used, if any."""
    if os.environ.get("POSTGRES_URL") and os.environ.get("REDIS_URL"):
        return None
    found = read_stack(data_dir)
    if found is None:
        return None
    for name, value in (("POSTGRES_URL", found.postgres_url), ("REDIS_URL", found.redis_url)):
        if not os.environ.get(name):
            os.environ[name] = value
    key = data_dir / SECRET_KEY_FILE
    if not os.environ.get("ALERTING_SECRET_KEY") and key.is_file():
        try:
            os.environ["ALERTING_SECRET_KEY"] = key.read_text().strip()
        except OSError:
            logger.debug("cannot read %s", key, exc_info=True)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True
