"""Dependencies of the web app, and how it behaves when one does not answer.

- ``/healthz`` reports each dependency (PostgreSQL, the broker, the shared-state Redis) within
  :data:`CHECK_SECONDS`, on threads of its own: a pile of requests stuck on a silent service
  cannot hold it up, and neither can ``/metrics`` (both run on the event loop).
- A request whose broker or database does not answer in time gets ``503`` with
  ``Retry-After`` and nothing is queued. After a broker failure, publishing requests are
  refused at once for :attr:`BrokerGate.hold` seconds instead of each waiting out the
  timeout, so they do not fill the request threads that read endpoints need.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import create_engine, pool, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from alerting.authz import public
from alerting.broker import BrokerUnavailable, probe_broker, publish_bound
from alerting.db.session import normalise_url
from alerting.settings import Settings

#: Seconds each dependency gets to answer ``/healthz``.
CHECK_SECONDS = 2.0

_checks = ThreadPoolExecutor(max_workers=6, thread_name_prefix="healthz")


class BrokerGate:
    """Refuses publishing at once while the broker has just failed to answer."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self._closed_until = 0.0
        self._lock = threading.Lock()

    def trip(self) -> None:
        with self._lock:
            self._closed_until = time.monotonic() + self.hold

    def check(self, url: str, bound: float) -> None:
        if time.monotonic() < self._closed_until:
            raise BrokerUnavailable(url, bound)


def retry_after(settings: Settings) -> int:
    """Seconds a client is told to wait after a 503: one producer timeout."""
    return math.ceil(publish_bound(settings))


def _postgres_check(settings: Settings) -> Callable[[], str]:
    url = settings.postgres_url
    engine = (
        create_engine(
            normalise_url(url),
            poolclass=pool.NullPool,
            connect_args={
                "connect_timeout": max(1, math.ceil(CHECK_SECONDS)),
                "options": f"-c statement_timeout={int(CHECK_SECONDS * 1000)}",
            },
        )
        if url
        else None
    )

    def check() -> str:
        if engine is None:
            return "not configured"
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            return f"unreachable: {str(exc.orig).strip().splitlines()[0][:120]}"
        return "ok"

    return check


def _redis_check(settings: Settings) -> Callable[[], str]:
    def check() -> str:
        if not settings.redis_url:
            return "not configured"
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=CHECK_SECONDS, socket_connect_timeout=CHECK_SECONDS
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"unreachable: {type(exc).__name__}"
        finally:
            client.close()
        return "ok"

    return check


def _broker_check(settings: Settings) -> Callable[[], str]:
    def check() -> str:
        url = settings.celery_broker_url or settings.redis_url
        if not url:
            return "not configured"
        return probe_broker(url, CHECK_SECONDS)

    return check


async def _run(check: Callable[[], str]) -> str:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(
            loop.run_in_executor(_checks, check), timeout=CHECK_SECONDS + 1
        )
    except TimeoutError:
        return "timeout"


class Health(BaseModel):
    """``/healthz``: each dependency's state ("ok", or what went wrong)."""

    ok: bool
    dependencies: dict[str, str]


def install(app: FastAPI, settings: Settings) -> BrokerGate:
    """``/healthz``, the 503 answers, and the broker gate the publishing endpoints consult."""
    gate = BrokerGate(hold=retry_after(settings))
    checks = {
        "postgres": _postgres_check(settings),
        "broker": _broker_check(settings),
        "redis": _redis_check(settings),
    }

    def unavailable(what: str, detail: str) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"error": f"{what} did not answer in time; nothing was queued: {detail}"},
            headers={"Retry-After": str(retry_after(settings))},
        )

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(_: Request, exc: BrokerUnavailable) -> JSONResponse:
        gate.trip()
        return unavailable("the broker", str(exc))

    @app.exception_handler(OperationalError)
    async def _database_down(_: Request, exc: OperationalError) -> JSONResponse:
        return unavailable("PostgreSQL", str(exc.orig).strip().splitlines()[0][:200])

    @app.exception_handler(PoolTimeout)
    async def _database_busy(_: Request, exc: PoolTimeout) -> JSONResponse:
        return unavailable("PostgreSQL", "no connection free within the timeout")

    @app.get(
        "/healthz",
        response_model=Health,
        dependencies=[public("health checks")],
        responses={503: {"model": Health, "description": "A dependency did not answer"}},
    )
    async def healthz() -> JSONResponse:
        names = list(checks)
        states = await asyncio.gather(*(_run(checks[name]) for name in names))
        dependencies: dict[str, Any] = dict(zip(names, states, strict=True))
        ok = all(state == "ok" for state in states)
        return JSONResponse(
            status_code=200 if ok else 503,
            content={"ok": ok, "dependencies": dependencies},
        )

    return gate
