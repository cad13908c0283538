"""Running the broker-dependent tests on RabbitMQ as well as Redis.

``ALERTING_TEST_BROKER=amqp://guest:guest@127.0.0.1:5672/<vhost> pytest -m broker`` runs the
tests marked ``broker`` with that RabbitMQ as the broker (PostgreSQL and the shared-state
Redis stay as usual). The session starts by deleting every queue the service declares in that
vhost, so a rerun starts clean.
"""

from __future__ import annotations

from kombu import Connection

from alerting.queues import INGEST_QUEUE, MAINTENANCE_QUEUE, tenant_queue

#: Celery's native delayed delivery queues (retry countdowns wait there on RabbitMQ).
DELAYED_LEVELS = 28


def empty_rabbitmq_queues(url: str, tenant_ids: list[str]) -> None:
    names = [INGEST_QUEUE, MAINTENANCE_QUEUE, *(tenant_queue(t) for t in tenant_ids)]
    names += [f"{tenant_queue(t)}.urgent" for t in tenant_ids]
    names += [f"celery_delayed_{level}" for level in range(DELAYED_LEVELS)]
    with Connection(url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=3)
        for name in names:
            # A channel per deletion: deleting a queue that does not exist closes the channel.
            channel = conn.channel()
            try:
                channel.queue_delete(name)
            finally:
                channel.close()
