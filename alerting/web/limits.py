"""Limits at the HTTP edge: the largest body, and each tenant's quotas (body size, events per
second), so that one tenant's flood is refused at the door instead of queued for everyone.

- :class:`BodySizeLimit` reads every request body up to ``ALERTING_MAX_BODY_BYTES`` before the
  application sees it, and answers 413 past that, whoever sends it.
- :func:`admit` applies the caller's tenant quotas once its key is known: its own
  ``quotas.max_body_bytes`` (413), and ``quotas.events_per_second`` / ``events_burst`` as a
  token bucket in Redis shared by every web process (429 with ``Retry-After``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerting.db.models import Tenant
from alerting.db.session import session_scope
from alerting.domain.errors import AlertingError
from alerting.domain.quotas import Quotas

log = logging.getLogger(__name__)

#: Scope key under which :class:`BodySizeLimit` leaves the body's size for :func:`admit`.
BODY_BYTES_KEY = "alerting.body_bytes"
#: Prefix of the event buckets (``alerting:rate:http:<tenant>``), next to Slack's buckets.
KEY_PREFIX = "alerting:rate:http:"

# GCRA ("theoretical arrival time") that admits a batch whenever the bucket holds at least
# one event, then charges it whole: a batch larger than the burst is still admitted once the
# tenant has been quiet, and its size then delays the next post accordingly.
# KEYS: the bucket. ARGV: microseconds per event, tolerance (microseconds), events.
# Returns 0 (admitted) or the microseconds to wait.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local wait = start - now - tonumber(ARGV[2])
if wait > 0 then
  return wait
end
local new_tat = start + tonumber(ARGV[1]) * tonumber(ARGV[3])
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
  math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


class BodyTooLarge(AlertingError):
    def __init__(self, limit: int, setting: str) -> None:
        self.limit = limit
        super().__init__(f"request body: larger than {limit} bytes ({setting})")


class Throttled(AlertingError):
    def __init__(self, tenant_id: str, retry_after: int) -> None:
        #: Whole seconds before the tenant may post again.
        self.retry_after = retry_after
        super().__init__(
            f"tenant {tenant_id!r} is over its event rate quota "
            f"(quotas.events_per_second); retry in {retry_after} s"
        )


class BodySizeLimit:
    """ASGI middleware: 413 for any body over ``max_bytes``, read or declared."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        scope[BODY_BYTES_KEY] = size
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        from fastapi.responses import JSONResponse

        error = str(BodyTooLarge(self.max_bytes, "ALERTING_MAX_BODY_BYTES"))
        response = JSONResponse(
            status_code=413,
            content={"error": error, "problems": [{"field": "(body)", "reason": error}]},
            headers={"Connection": "close"},
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def tenant_quotas(postgres_url: str | None, tenant_id: str) -> Quotas:
    with session_scope(postgres_url) as session:
        stored = session.scalar(select(Tenant.config["quotas"]).where(Tenant.id == tenant_id))
    return Quotas.model_validate(stored or {})


class EventThrottle:
    """Each tenant's events per second at the HTTP edge, in Redis."""

    def __init__(self, redis_url: str) -> None:
        # Short timeouts: a slow Redis must not hold requests (the limit then fails open).
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._take: Any = self._redis.register_script(_TAKE)

    def take(self, tenant_id: str, events: int, quotas: Quotas) -> int:
        """0 when ``events`` are admitted, else whole seconds to wait."""
        interval = 1_000_000 / quotas.events_per_second
        tolerance = (quotas.events_burst - 1) * interval
        try:
            wait = int(
                self._take(keys=[KEY_PREFIX + tenant_id], args=[interval, tolerance, events])
            )
        except redis.RedisError as exc:
            log.warning("event quota of %s not checked (Redis: %s)", tenant_id, exc)
            return 0
        return 0 if wait <= 0 else max(1, math.ceil(wait / 1_000_000))


def admit(
    scope: Scope,
    *,
    tenant_id: str,
    events: int,
    postgres_url: str | None,
    throttle: EventThrottle | None,
) -> None:
    """Raise :class:`BodyTooLarge` or :class:`Throttled` when the tenant's quotas refuse."""
    quotas = tenant_quotas(postgres_url, tenant_id)
    size = int(scope.get(BODY_BYTES_KEY, 0))
    if quotas.max_body_bytes is not None and size > quotas.max_body_bytes:
        raise BodyTooLarge(quotas.max_body_bytes, "quotas.max_body_bytes")
    if throttle is not None and events > 0:
        wait = throttle.take(tenant_id, events, quotas)
        if wait:
            raise Throttled(tenant_id, wait)
