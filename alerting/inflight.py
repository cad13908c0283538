"""Events published but not yet stored, kept in Redis when Redis is the broker.

kombu's Redis transport pops a message from its list and only then records it as
unacknowledged: a worker SIGKILLed between the two loses the message for good (the chaos run
saw 1 event in 60-120). RabbitMQ has no such gap. So with the Redis broker the producer keeps a
copy of every event it has published here, ingest drops the copy once the event is stored,
and the sweeper publishes again a copy older than the visibility timeout (by then Redis would
have redelivered anything merely unacknowledged). Ingest is idempotent by event id, so a copy
published again for an event that was only slow is a no-op.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

#: Sorted set: event id -> when it was (last) published, in Unix seconds.
PUBLISHED_AT_KEY = "alerting:inflight:at"
#: Hash: event id -> {"tenant_id": ..., "event": the message}.
BODIES_KEY = "alerting:inflight:body"
#: Copies handed back per sweep; the next sweep continues.
BATCH = 500


def remember(client: redis.Redis, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """``items``: (event id, tenant id, message) of events just published."""
    if not items:
        return
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.zadd(PUBLISHED_AT_KEY, {event_id: now for event_id, _, _ in items})
    pipe.hset(
        BODIES_KEY,
        mapping={
            event_id: json.dumps({"tenant_id": tenant_id, "event": message})
            for event_id, tenant_id, message in items
        },
    )
    pipe.execute()


def forget(client: redis.Redis, event_id: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.zrem(PUBLISHED_AT_KEY, event_id)
    pipe.hdel(BODIES_KEY, event_id)
    pipe.execute()


def overdue(client: redis.Redis, older_than: float) -> list[tuple[str, str, dict[str, Any]]]:
    """Copies published more than ``older_than`` seconds ago, marked as published now."""
    cutoff = time.time() - older_than
    ids = [
        raw.decode() if isinstance(raw, bytes) else str(raw)
        for raw in client.zrangebyscore(PUBLISHED_AT_KEY, "-inf", cutoff, start=0, num=BATCH)
    ]
    if not ids:
        return []
    bodies = client.hmget(BODIES_KEY, ids)
    found: list[tuple[str, str, dict[str, Any]]] = []
    for event_id, body in zip(ids, bodies, strict=True):
        if body is None:
            client.zrem(PUBLISHED_AT_KEY, event_id)
            continue
        data = json.loads(body)
        found.append((event_id, str(data["tenant_id"]), dict(data["event"])))
    if found:
        client.zadd(PUBLISHED_AT_KEY, {event_id: time.time() for event_id, _, _ in found})
    return found
