"""The no-op task the alert pipeline is compared against.

It is registered on the project's own app (``workers.app``), so a worker started with
``celery -A bench.noop worker -Q bench.noop`` has exactly the configuration of the alerting
workers: late acks, prefetch multiplier, task events, serializer, broker options.
"""

from __future__ import annotations

import os

import redis

from alerting.settings import get_settings
from bench.names import NOOP_COUNTER, NOOP_TASK
from workers.app import app

__all__ = ["app", "noop"]

# One client per process id: the pool forks after import, and a Redis socket shared across
# a fork would interleave the replies of two processes.
_clients: dict[int, redis.Redis] = {}


def _counter() -> redis.Redis:
    pid = os.getpid()
    client = _clients.get(pid)
    if client is None:
        client = redis.Redis.from_url(get_settings().require_redis_url())
        _clients[pid] = client
    return client


@app.task(name=NOOP_TASK)
def noop() -> None:
    """Count one completion; one INCR is the cheapest observable side effect."""
    _counter().incr(NOOP_COUNTER)
