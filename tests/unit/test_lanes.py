"""The order a worker asks Redis for its queues: per tenant its urgent lane first, tenants in
turn, beat's periodic work before all.

``workers`` is imported inside the tests: importing it configures the Celery app from the
environment, which the session's stack sets later.
"""

from __future__ import annotations

from typing import Any

from alerting.queues import tenant_queues, tenant_urgent_queue


def _cycle(queues: list[str]) -> Any:
    from workers.lanes import UrgentFirstCycle

    cycle = UrgentFirstCycle()
    cycle.update(queues)
    return cycle


def test_a_tenants_urgent_lane_comes_before_its_normal_queue() -> None:
    cycle = _cycle(
        ["alerts.ingest", "alerts.t.a", "alerts.t.a.urgent", "alerts.t.b", "alerts.maintenance"]
    )
    assert cycle.consume(5) == [
        "alerts.maintenance",
        "alerts.ingest",
        "alerts.t.a.urgent",
        "alerts.t.a",
        "alerts.t.b",
    ]


def test_the_tenant_just_served_goes_last_whichever_lane() -> None:
    cycle = _cycle(["alerts.t.a.urgent", "alerts.t.a", "alerts.t.b.urgent", "alerts.t.b"])
    cycle.rotate("alerts.t.a.urgent")
    # Tenant a's urgent storm cannot starve tenant b.
    assert cycle.consume(4) == [
        "alerts.t.b.urgent",
        "alerts.t.b",
        "alerts.t.a.urgent",
        "alerts.t.a",
    ]


def test_every_pool_consumes_its_tenants_urgent_lane() -> None:
    from workers.pools import PoolSpec

    assert tenant_urgent_queue("acme") == "alerts.t.acme.urgent"
    assert tenant_queues("acme") == ["alerts.t.acme.urgent", "alerts.t.acme"]
    only = PoolSpec(only=frozenset({"b"})).queues(["a", "b"])
    assert only == ["alerts.t.b.urgent", "alerts.t.b"]
    shared = PoolSpec().queues(["a"])
    assert {"alerts.t.a.urgent", "alerts.t.a", "alerts.ingest", "alerts.maintenance"} == set(shared)
