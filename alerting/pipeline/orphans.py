"""Queues of tenants that do not exist: their events go to the shared ingest queue.

Producers publish an event to its tenant's queue (``alerts.t.<tenant>``), so a tenant's storm
is ingested by the workers serving that tenant, behind that tenant's own work only. A queue
whose tenant is unknown has no consumer; the sweeper moves its messages to ``alerts.ingest``,
where ingest refuses them with the reason (unknown tenant), as it always did.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from alerting.queues import INGEST_QUEUE, TENANT_QUEUE_PREFIX, URGENT_SUFFIX

#: kombu's Redis transport keeps a queue's messages of priority p in ``<queue><SEP><p>``
#: (priority 0 in ``<queue>`` itself).
PRIORITY_SEPARATOR = "\x06\x16"


def drain_orphan_queues(client: redis.Redis, known_tenants: Iterable[str]) -> dict[str, int]:
    """Move every message of an unknown tenant's queue to the ingest queue; counts by tenant."""
    known = set(known_tenants)
    moved: dict[str, int] = {}
    for raw in client.scan_iter(match=f"{TENANT_QUEUE_PREFIX}*", count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        queue, separator, priority = key.partition(PRIORITY_SEPARATOR)
        # A tenant's urgent lane (`alerts.t.<tenant>.urgent`) belongs to that tenant too.
        tenant_id = queue.removeprefix(TENANT_QUEUE_PREFIX).removesuffix(URGENT_SUFFIX)
        if tenant_id in known or client.type(key) != b"list":
            continue
        target = f"{INGEST_QUEUE}{separator}{priority}"
        count = 0
        # Oldest first (kombu pushes left and pops right), one message per atomic move.
        while client.rpoplpush(key, target) is not None:
            count += 1
        if count:
            moved[tenant_id] = moved.get(tenant_id, 0) + count
    return moved
