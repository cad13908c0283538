"""The order a worker asks Redis for its queues: urgent lanes first, round robin in each tier."""

from __future__ import annotations

from alerting.queues import tenant_queues, tenant_urgent_queue
from workers.lanes import UrgentFirstCycle
from workers.pools import PoolSpec


def test_urgent_lanes_come_before_every_other_queue() -> None:
    cycle = UrgentFirstCycle()
    cycle.update(
        ["alerts.ingest", "alerts.t.a", "alerts.t.a.urgent", "alerts.t.b", "alerts.t.b.urgent"]
    )
    assert cycle.consume(5) == [
        "alerts.t.a.urgent",
        "alerts.t.b.urgent",
        "alerts.ingest",
        "alerts.t.a",
        "alerts.t.b",
    ]


def test_within_a_tier_the_queue_just_used_goes_last() -> None:
    cycle = UrgentFirstCycle(["alerts.t.a.urgent", "alerts.t.b.urgent", "alerts.t.a"])
    cycle.rotate("alerts.t.a.urgent")
    assert cycle.consume(3) == ["alerts.t.b.urgent", "alerts.t.a.urgent", "alerts.t.a"]


def test_every_pool_consumes_its_tenants_urgent_lane() -> None:
    assert tenant_urgent_queue("acme") == "alerts.t.acme.urgent"
    assert tenant_queues("acme") == ["alerts.t.acme.urgent", "alerts.t.acme"]
    assert PoolSpec(only=frozenset({"b"})).queues(["a", "b"]) == ["alerts.t.b.urgent", "alerts.t.b"]
    shared = PoolSpec().queues(["a"])
    assert shared[0] == "alerts.t.a.urgent" and "alerts.t.a" in shared
