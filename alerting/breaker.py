"""Circuit breaker per destination (tenant and channel), shared by all workers in Redis.

Closed: deliveries go out. After ``ALERTING_BREAKER_FAILURES`` consecutive transient failures
it opens for ``ALERTING_BREAKER_COOLDOWN_SECONDS``: new notifications for the destination are
parked (``held``) instead of hammering a failing Slack. Past the cooldown one delivery takes
the probe lock and tries; success closes the breaker and the held notifications are released
one after another, oldest first; failure opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import redis

#: Prefix of the breaker keys; the tenant and channel follow.
KEY_PREFIX = "alerting:breaker:"


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    #: Cooldown over: the next delivery may probe.
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Breaker:
    client: redis.Redis
    failures_to_open: int
    cooldown: float
    #: How long a probe holds its lock, in seconds (a dead worker's probe must expire).
    probe_ttl: float

    def _key(self, tenant_id: str, channel: str) -> str:
        return f"{KEY_PREFIX}{tenant_id}:{channel}"

    def state(self, tenant_id: str, channel: str) -> tuple[BreakerState, float]:
        """The state and, when open, the seconds left of the cooldown."""
        raw = self.client.hget(self._key(tenant_id, channel), "open_until")
        if raw is None:
            return BreakerState.CLOSED, 0.0
        left = float(raw) - time.time()
        return (BreakerState.OPEN, left) if left > 0 else (BreakerState.HALF_OPEN, 0.0)

    def try_probe(self, tenant_id: str, channel: str, token: str) -> bool:
        key = self._key(tenant_id, channel) + ":probe"
        if self.client.set(key, token, nx=True, px=int(self.probe_ttl * 1000)):
            return True
        return self.client.get(key) == token.encode()

    def record_success(self, tenant_id: str, channel: str) -> bool:
        """Close; True when it was not closed before (held notifications may go)."""
        key = self._key(tenant_id, channel)
        removed = self.client.delete(key, key + ":probe")
        return bool(removed)

    def release_probe(self, tenant_id: str, channel: str, token: str) -> None:
        key = self._key(tenant_id, channel) + ":probe"
        if self.client.get(key) == token.encode():
            self.client.delete(key)

    def record_failure(self, tenant_id: str, channel: str) -> float:
        """Count a transient failure; returns the cooldown left when this opened the breaker."""
        key = self._key(tenant_id, channel)
        pipe = self.client.pipeline()
        pipe.hincrby(key, "failures", 1)
        pipe.delete(key + ":probe")
        failures = int(pipe.execute()[0])
        if failures < self.failures_to_open:
            return 0.0
        open_until = time.time() + self.cooldown
        self.client.hset(key, "open_until", open_until)
        return self.cooldown


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
