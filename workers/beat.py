"""Beat without a single point of failure: any number of ``alerting beat`` processes run, the
one holding a PostgreSQL advisory lock schedules, the others stand by.

Takeover: a beat that dies (even SIGKILLed) closes its database connection, PostgreSQL
releases its lock at once, and a standby takes it at its next poll, within
``ALERTING_BEAT_LOCK_POLL`` seconds (1 by default); a beat whose host vanishes is noticed by
the server's TCP keepalives, set for the lock's session to give up after about
:data:`KEEPALIVE_GIVE_UP_SECONDS`. The active beat checks its lock connection before every
tick and stops scheduling the moment it is gone (a PostgreSQL restart, a network cut), so two
beats never schedule for longer than one tick together; the tasks they send are idempotent
anyway (escalation levels are rows claimed ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from celery.beat import Scheduler
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.exc import DBAPIError

from alerting.db.session import normalise_url
from alerting.settings import get_settings

log = logging.getLogger(__name__)

#: The advisory lock's key (any constant bigint; per database, so stacks do not collide).
BEAT_LOCK_KEY = 0x616C657274626561  # "alertbea"
#: Server-side TCP keepalives of the lock's session: idle, interval, count (seconds, probes).
KEEPALIVE = (5, 2, 3)
KEEPALIVE_GIVE_UP_SECONDS = KEEPALIVE[0] + KEEPALIVE[1] * KEEPALIVE[2]


class BeatLock:
    """The scheduling lock: a session-level advisory lock on a connection of its own."""

    def __init__(self, url: str, connect_timeout: int) -> None:
        idle, interval, count = KEEPALIVE
        self._engine = create_engine(
            normalise_url(url),
            poolclass=pool.NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "connect_timeout": connect_timeout,
                "application_name": "alerting-beat",
                "options": (
                    f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
                    f"-c tcp_keepalives_count={count}"
                ),
                "keepalives": 1,
                "keepalives_idle": idle,
                "keepalives_interval": interval,
                "keepalives_count": count,
            },
        )
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        try:
            conn = self._engine.connect()
        except DBAPIError:
            log.warning("beat: PostgreSQL is unreachable; cannot take the scheduling lock")
            return False
        try:
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": BEAT_LOCK_KEY}
                ).scalar_one()
            )
        except DBAPIError:
            got = False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """The lock lives as long as its session: check the session is still there."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except DBAPIError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.close()
            self._conn = None


class LockedScheduler(Scheduler):
    """Celery's in-memory scheduler, ticking only while it holds :class:`BeatLock`.

    In memory on purpose: every entry is a short interval, so a beat that takes over simply
    runs each one once at once, and two beats on one host share no schedule file.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        settings = get_settings()
        self._lock = BeatLock(settings.require_postgres_url(), settings.db_connect_timeout)
        self._poll = settings.beat_lock_poll_seconds
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._lock.held and not self._lock.still_held():
            log.warning("beat: lost the scheduling lock (database connection gone); standing by")
        if not self._lock.held:
            if not self._lock.try_acquire():
                return self._poll
            log.info("beat: took the scheduling lock; now scheduling")
            for entry in self.schedule.values():
                # Due at once: the work of the beat that died is picked up without waiting.
                entry.last_run_at = entry.default_now() - timedelta(days=1)
        return float(super().tick(*args, **kwargs))

    def close(self) -> None:
        self._lock.release()
        super().close()
