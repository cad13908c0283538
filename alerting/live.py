"""What changed, per tenant, for open pages of ``/ui/``: a Redis stream per tenant (so a page
that reconnects resumes after its ``Last-Event-ID``) and a pub/sub channel per tenant (so an
open page hears of a change at once).

Published after commit only: a page must never show a change that was rolled back. A Redis
failure here is logged, never raised: the alert itself is stored and on its way to Slack.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any

import redis

log = logging.getLogger(__name__)

#: Changes kept per tenant for reconnecting pages.
STREAM_LENGTH = 10_000


def stream_key(tenant_id: str) -> str:
    return f"alerting:ui:stream:{tenant_id}"


def channel(tenant_id: str) -> str:
    return f"alerting:ui:live:{tenant_id}"


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def publish_change(redis_url: str | None, tenant_id: str, **change: Any) -> None:
    """Tell the tenant's open pages that an alert changed."""
    if not redis_url:
        return
    data = json.dumps({"tenant_id": tenant_id, **change}, default=str)
    try:
        client = _client(redis_url)
        entry_id = client.xadd(
            stream_key(tenant_id), {"data": data}, maxlen=STREAM_LENGTH, approximate=True
        )
        ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
        client.publish(channel(tenant_id), json.dumps({"id": ident, "data": data}))
    except redis.RedisError as exc:
        log.warning("live update for %s not published: %s", tenant_id, exc)
