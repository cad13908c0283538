"""Names shared by the bench driver and the no-op worker.

Kept apart from :mod:`bench.noop` so the driver can use them without importing the worker's
Celery app (which reads its settings at import time).
"""

from __future__ import annotations

#: The no-op task, registered on the project's own Celery app.
NOOP_TASK = "bench.noop"
#: Its own queue, so the no-op worker never competes with the alert pipeline's queues.
NOOP_QUEUE = "bench.noop"
#: Redis key the no-op task increments: completions are counted without a result backend.
NOOP_COUNTER = "bench:noop:done"
#: Node name prefix of the no-op worker (``celery -n``), to recognise its ping replies.
NOOP_NODE = "bench-noop"
#: Node name prefix the ``alerting worker`` command gives a worker serving every tenant.
ALERT_NODE = "shared"
