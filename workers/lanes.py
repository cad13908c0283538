"""The order in which a worker asks Redis for its queues: urgent lanes first.

kombu's Redis transport pops with one ``BRPOP`` over all the queues a worker consumes; Redis
answers from the first non-empty key in the order given. kombu's default order is a round
robin (the queue just used goes last), which is fair between tenants but lets a tenant's backlog
of new events take every other turn from its urgent work. This order keeps the round robin
inside two tiers: the urgent lanes (``alerts.t.<tenant>.urgent``) always come before every
other queue, so a critical event, an escalation page or a click is taken as soon as a worker
process is free, while tenants stay fair among themselves in each tier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kombu.utils.scheduling import round_robin_cycle

from alerting.queues import URGENT_SUFFIX

#: Value of the Redis transport's ``queue_order_strategy`` (kombu resolves a dotted path).
URGENT_FIRST = "workers.lanes:UrgentFirstCycle"


if TYPE_CHECKING:
    _Cycle = round_robin_cycle[str]
else:  # generic only in its type stubs
    _Cycle = round_robin_cycle


class UrgentFirstCycle(_Cycle):
    """Round robin within each tier; the urgent tier first."""

    # kombu tests the result for emptiness, so it must be a list (its stub says Iterator).
    def consume(self, n: int) -> list[str]:  # type: ignore[override]
        queues = list(self.items or [])[:n]
        urgent = [q for q in queues if q.endswith(URGENT_SUFFIX)]
        return urgent + [q for q in queues if not q.endswith(URGENT_SUFFIX)]
