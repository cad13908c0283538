"""The order in which a worker asks Redis for its queues: each tenant's urgent lane first.

kombu's Redis transport pops with one ``BRPOP`` over all the queues a worker consumes; Redis
answers from the first non-empty key in the order given. kombu's default order is a round
robin over queues (the queue just used goes last), which is fair between tenants but lets a
tenant's backlog of new events take every other turn from its own urgent work.

This order keeps the round robin between *tenants* and puts, within a tenant, its urgent lane
(``alerts.t.<tenant>.urgent``) before its normal queue: a tenant's critical event, escalation
page or click is taken before any more of that tenant's backlog, and no tenant's urgent storm
starves another tenant. Beat's periodic work (``alerts.maintenance``: escalation ticks, group
flushes, the sweeper) comes before every tenant, since pages and digests wait on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kombu.utils.scheduling import round_robin_cycle

from alerting.queues import MAINTENANCE_QUEUE, URGENT_SUFFIX

#: Value of the Redis transport's ``queue_order_strategy`` (kombu resolves a dotted path).
URGENT_FIRST = "workers.lanes:UrgentFirstCycle"

if TYPE_CHECKING:
    _Cycle = round_robin_cycle[str]
else:  # generic only in its type stubs
    _Cycle = round_robin_cycle


def _lane_group(queue: str) -> str:
    """A tenant's two queues share one place in the rotation."""
    return queue.removesuffix(URGENT_SUFFIX)


class UrgentFirstCycle(_Cycle):
    """Round robin between tenants; a tenant's urgent lane before its normal queue."""

    # kombu tests the result for emptiness, so it must be a list (its stub says Iterator).
    def consume(self, n: int) -> list[str]:  # type: ignore[override]
        queues = list(self.items or [])[:n]
        present = set(queues)
        ordered = [MAINTENANCE_QUEUE] if MAINTENANCE_QUEUE in present else []
        for queue in queues:
            group = _lane_group(queue)
            for candidate in (group + URGENT_SUFFIX, group):
                if candidate in present and candidate not in ordered:
                    ordered.append(candidate)
        return ordered

    def rotate(self, last_used: str) -> None:
        """The tenant just served (either lane) goes last."""
        items = self.items
        if items is None:
            return
        group = _lane_group(last_used)
        served = [q for q in items if _lane_group(q) == group]
        items[:] = [q for q in items if _lane_group(q) != group] + served
