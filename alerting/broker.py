"""The broker: which one (``CELERY_BROKER_URL``, else ``REDIS_URL``), how its queues are
declared, and how long anyone waits for it.

RabbitMQ (``amqp://``) is the production broker: every queue is a durable quorum queue, so a
consumer that dies with unacknowledged messages has them redelivered at once, and a cluster
keeps them replicated. Redis stays the embedded default; there a dead consumer's messages
come back only after the visibility timeout (see docs/architecture.md, "What a dead worker
can delay").

Both the workers' app and the producers' app take their broker settings from
:func:`celery_broker_options`, so a producer and a worker can never disagree on a queue's
arguments (RabbitMQ refuses to redeclare a queue with other arguments).
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import amqp.exceptions
import redis.exceptions
from celery.app.amqp import AMQP, Queues
from kombu import Exchange, Queue
from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.utils.url import maybe_sanitize_url

from alerting.settings import Settings

#: Publish attempts before a producer gives up (the first one and one retry).
PUBLISH_ATTEMPTS = 2
#: Seconds between the two attempts.
PUBLISH_RETRY_INTERVAL = 0.2
#: Seconds between Redis scans for unacknowledged messages past the visibility timeout.
REDIS_RESTORE_INTERVAL = 5
#: RabbitMQ queue type of every queue the service declares.
QUEUE_TYPE = "quorum"


#: What a publish raises when the broker is down, silent or refuses the message.
PUBLISH_ERRORS = (
    KombuError,
    OSError,
    amqp.exceptions.AMQPError,
    redis.exceptions.RedisError,
)


class BrokerUnavailable(KombuOperationalError):
    """The broker did not take a message within the documented bound; nothing was queued.

    A kombu ``OperationalError``, so a task that publishes is retried like any other broker
    outage.
    """

    def __init__(self, url: str, bound: float, cause: BaseException | None = None) -> None:
        self.url = maybe_sanitize_url(url)
        self.bound = bound
        reason = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        super().__init__(
            f"broker {self.url} did not accept the message within {bound:.1f} s "
            f"(down or not answering){reason}"
        )


def is_amqp(url: str) -> bool:
    return url.split("://", 1)[0].lower() in {"amqp", "amqps", "pyamqp"}


def publish_bound(settings: Settings) -> float:
    """Seconds a producer waits for the broker at most before :class:`BrokerUnavailable`:
    every attempt may spend one timeout connecting and one waiting for the answer."""
    return PUBLISH_ATTEMPTS * 2 * settings.broker_timeout + PUBLISH_RETRY_INTERVAL


def declare_queue(name: str, *, amqp: bool) -> Queue:
    """THE declaration of a queue of the service, for producers and workers alike.

    On RabbitMQ: durable, quorum type, bound by its own name to a topic exchange of its own
    name (a topic exchange, because Celery's native delayed delivery, which carries retry
    countdowns on quorum queues, cannot route through direct exchanges). On Redis: Celery's
    plain queue.
    """
    if not amqp:
        return Queue(name, Exchange(name), routing_key=name)
    return Queue(
        name,
        Exchange(name, type="topic", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-queue-type": QUEUE_TYPE},
    )


class DeclaredQueues(Queues):
    """Celery's queue registry, with every queue named on the fly (``-Q``, routes,
    ``add_consumer``) declared by :func:`declare_queue`."""

    amqp_broker = False

    def new_missing(self, name: str) -> Queue:
        return declare_queue(name, amqp=self.amqp_broker)

    def add(self, queue: Queue | str, **kwargs: Any) -> Any:
        if isinstance(queue, str):
            queue = declare_queue(queue, amqp=self.amqp_broker)
        return super().add(queue)


class DeclaredAMQP(AMQP):
    """``Celery(amqp=...)``: the app's queues come from :class:`DeclaredQueues`."""

    queues_cls = DeclaredQueues

    def Queues(self, *args: Any, **kwargs: Any) -> DeclaredQueues:
        queues = cast(DeclaredQueues, super().Queues(*args, **kwargs))
        queues.amqp_broker = is_amqp(str(self.app.conf.broker_url or ""))
        return queues


def celery_broker_options(settings: Settings) -> dict[str, Any]:
    """``app.conf`` entries that pick and bound the broker, for workers and producers."""
    url = settings.require_broker_url()
    timeout = settings.broker_timeout
    options: dict[str, Any] = {
        "broker_url": url,
        "broker_connection_timeout": timeout,
        # A publish is tried PUBLISH_ATTEMPTS times, then the caller hears of it.
        "task_publish_retry_policy": {
            "max_retries": PUBLISH_ATTEMPTS - 1,
            "interval_start": PUBLISH_RETRY_INTERVAL,
            "interval_step": 0,
            "interval_max": PUBLISH_RETRY_INTERVAL,
        },
    }
    if is_amqp(url):
        options.update(
            # The broker confirms every message it has stored (with quorum queues: on a
            # majority of nodes) before a publish returns.
            broker_transport_options={"confirm_publish": True},
            task_create_missing_queue_type=QUEUE_TYPE,
            task_create_missing_queue_exchange_type="topic",
            # Retry countdowns wait in Celery's delay queues (one per power of two seconds).
            # Classic ones: a quorum queue expires a message only once it reaches the head,
            # which made a 2 s countdown come back after 6.
            broker_native_delayed_delivery_queue_type="classic",
            broker_heartbeat=10,
        )
    else:
        options["broker_transport_options"] = {
            "visibility_timeout": settings.visibility_timeout,
            # Look for messages past their visibility timeout every few seconds (kombu's
            # default, 10 s x 10, would add up to 100 s to the window).
            "unacked_restore_interval": REDIS_RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            # Redis pub/sub ignores database numbers: prefix the fanout channels (events,
            # broadcast control) with the database so stacks sharing one server stay apart.
            "fanout_prefix": True,
            "fanout_patterns": True,
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "max_retries": PUBLISH_ATTEMPTS - 1,
            "interval_start": 0,
            "interval_step": PUBLISH_RETRY_INTERVAL,
            "interval_max": PUBLISH_RETRY_INTERVAL,
        }
    return options


def broker_countdown(countdown: float, *, amqp: bool) -> float:
    """RabbitMQ's delayed delivery counts whole seconds (and refuses zero): round a
    countdown up there, so a rate-limit wait never comes back before its slot."""
    if amqp and countdown > 0:
        return float(max(1, math.ceil(countdown)))
    return countdown


def probe_broker(url: str, timeout: float) -> str:
    """``ok`` or why not, within about ``timeout`` seconds (for ``/healthz``)."""
    from kombu import Connection

    started = time.monotonic()
    try:
        with Connection(
            url,
            connect_timeout=timeout,
            transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=math.ceil(timeout))
            if not is_amqp(url):
                conn.default_channel.client.ping()  # type: ignore[attr-defined]
    except (TimeoutError, KombuOperationalError, OSError) as exc:
        if time.monotonic() - started >= timeout:
            return "timeout"
        return f"unreachable: {type(exc).__name__}"
    return "ok"
