"""Engines and transactions. Callers own the transaction; repositories take a session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from alerting.settings import get_settings

_engines: dict[tuple[int, str], Engine] = {}
_factories: dict[Engine, sessionmaker[Session]] = {}
#: Seconds after which a pooled connection is replaced, so connections dropped by a restarted
#: server or a proxy's idle timeout are not reused for long. Cheaper than a ping per checkout.
POOL_RECYCLE_SECONDS = 300


def normalise_url(url: str) -> str:
    """Accept the ``postgres://`` and ``postgresql://`` forms operators paste."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def get_engine(url: str | None = None) -> Engine:
    """One engine per process and URL; a forked worker child gets its own pool."""
    url = normalise_url(url or get_settings().require_postgres_url())
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        # No pre-ping: it costs a round trip per transaction. A connection that died anyway fails
        # its transaction, and every task is idempotent with late acks, so it simply runs again.
        timeout = get_settings().db_connect_timeout
        engine = create_engine(
            url,
            pool_recycle=POOL_RECYCLE_SECONDS,
            pool_size=5,
            max_overflow=5,
            # A server that is down or silent fails the caller within the timeout instead of
            # hanging it; keepalives notice a peer that vanished with connections open.
            pool_timeout=timeout,
            connect_args={
                "connect_timeout": timeout,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 2,
                "keepalives_count": 3,
            },
        )
        _engines[key] = engine
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    engine = get_engine(url)
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories[engine] = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _factories.clear()
