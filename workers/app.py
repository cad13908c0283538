"""The Celery app: configuration, queues, routes and the beat schedule, all in one place."""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu.exceptions import OperationalError as KombuOperationalError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from alerting.broker import DeclaredAMQP, celery_broker_options, declare_queue, is_amqp
from alerting.db.session import dispose_engines
from alerting.queues import (
    ANOMALY_TICK_TASK,
    CHATOPS_TASK,
    DELIVER_TASK,
    ESCALATION_TICK_TASK,
    GROUP_FLUSH_TASK,
    INGEST_QUEUE,
    INGEST_TASK,
    INTEGRATE_TASK,
    INTERACTION_TASK,
    MAINTENANCE_QUEUE,
    PREDICTION_TRAIN_TASK,
    ROUTE_TASK,
    SWEEP_TASK,
    queue_for,
    tenant_queues,
)
from alerting.settings import get_settings
from workers.lanes import URGENT_FIRST

settings = get_settings()

#: For every task: the database or the broker being briefly away is retried with backoff,
#: never a reason to drop (and, with late acks, acknowledge) the work in hand.
INFRASTRUCTURE_RETRY: dict[str, Any] = {
    "autoretry_for": (SQLAlchemyOperationalError, InterfaceError, KombuOperationalError),
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": None,
}

app = Celery(
    "alerting",
    amqp=DeclaredAMQP,
    task_cls="workers.base:AlertingTask",
    include=[
        "workers.tasks.ingest",
        "workers.tasks.route",
        "workers.tasks.deliver",
        "workers.tasks.sweep",
        "workers.tasks.interaction",
        "workers.tasks.escalation",
        "workers.tasks.grouping",
        "workers.tasks.integrate",
        "workers.tasks.anomaly",
        "workers.tasks.chatops",
    ],
)


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str] | None:
    """Per-tenant work goes to ``alerts.t.<tenant>`` so a noisy tenant can get its own pool."""
    per_tenant = (ROUTE_TASK, DELIVER_TASK, INTERACTION_TASK, INTEGRATE_TASK, CHATOPS_TASK)
    if name in per_tenant and kwargs and "tenant_id" in kwargs:
        return {"queue": queue_for(kwargs["tenant_id"], urgent=bool(kwargs.get("urgent")))}
    if name == INGEST_TASK:
        return {"queue": INGEST_QUEUE}
    if name in (
        SWEEP_TASK,
        ESCALATION_TICK_TASK,
        GROUP_FLUSH_TASK,
        ANOMALY_TICK_TASK,
        PREDICTION_TRAIN_TASK,
    ):
        return {"queue": MAINTENANCE_QUEUE}
    return None


#: RabbitMQ (CELERY_BROKER_URL=amqp://...) or Redis (REDIS_URL); see alerting/broker.py.
AMQP_BROKER = bool(settings.celery_broker_url) and is_amqp(str(settings.celery_broker_url))

app.conf.update(
    **(celery_broker_options(settings) if settings.celery_broker_url or settings.redis_url else {}),
    broker_connection_retry_on_startup=True,
    # With Redis, an unacknowledged message is redelivered after the visibility timeout; every
    # retry countdown (ALERTING_RETRY_MAX_SECONDS, Retry-After) stays far below it, or a
    # scheduled retry would be delivered twice (docs/architecture.md, "What a dead worker can
    # delay"). RabbitMQ redelivers as soon as the consumer's connection is gone.
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    # Every task is idempotent, so a message is acknowledged only after its work is done and
    # given back when the worker process dies mid-task.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=4,
    task_default_queue=INGEST_QUEUE,
    task_queues=[
        declare_queue(INGEST_QUEUE, amqp=AMQP_BROKER),
        declare_queue(MAINTENANCE_QUEUE, amqp=AMQP_BROKER),
    ],
    task_create_missing_queues=True,
    task_routes=(route_task,),
    # Task events cost the worker a third of its own CPU per alert. They are off until someone
    # watches: Flower (and `celery control enable_events`) switches them on in running workers.
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
    # Only protocol 2 messages are served; the consumer refuses, once, what no task could run
    # (workers/guard.py), and no task runs unbounded.
    task_protocol=2,
    worker_consumer="workers.guard:GuardedConsumer",
    task_soft_time_limit=settings.task_soft_time_limit,
    task_time_limit=settings.task_time_limit,
    beat_schedule={
        "escalation-tick": {
            "task": ESCALATION_TICK_TASK,
            "schedule": settings.escalation_tick_seconds,
            # A tick that waited longer than its period is superseded by the next one.
            "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.escalation_tick_seconds},
        },
        "group-flush": {
            "task": GROUP_FLUSH_TASK,
            "schedule": settings.group_tick_seconds,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.group_tick_seconds},
        },
        "sweep-stuck-work": {
            "task": SWEEP_TASK,
            "schedule": settings.sweep_interval_seconds,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.sweep_interval_seconds * 2},
        },
        "anomaly-tick": {
            "task": ANOMALY_TICK_TASK,
            "schedule": settings.anomaly_tick_seconds,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.anomaly_tick_seconds},
        },
        "prediction-train": {
            "task": PREDICTION_TRAIN_TASK,
            "schedule": settings.prediction_train_seconds,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": settings.prediction_train_seconds},
        },
    },
    timezone="UTC",
)

if str(app.conf.broker_url or "").startswith("redis://"):
    # A queue item that is not a kombu message is refused rather than fatal (Redis only: other
    # brokers frame their messages themselves).
    app.conf.broker_transport = "workers.transport:Transport"
    # Every tenant's urgent lane is asked for before any other queue (workers/lanes.py). On
    # RabbitMQ each queue has its own consumer, so an urgent message waits only for what the
    # worker has prefetched.
    app.conf.broker_transport_options["queue_order_strategy"] = URGENT_FIRST

if settings.retry_max_seconds * 2 > settings.visibility_timeout:
    raise RuntimeError(
        "ALERTING_RETRY_MAX_SECONDS must stay below half of ALERTING_VISIBILITY_TIMEOUT: "
        "a retry countdown past the visibility timeout is delivered twice by Redis"
    )

if settings.task_soft_time_limit >= settings.task_time_limit:
    raise RuntimeError(
        "ALERTING_TASK_SOFT_TIME_LIMIT must stay below ALERTING_TASK_TIME_LIMIT: the soft "
        "limit lets a task end cleanly before the hard one kills its process"
    )


@signals.worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool child must not share the parent's Postgres sockets.
    dispose_engines()


@signals.beat_init.connect
@signals.celeryd_init.connect
def _require_broker(**_: Any) -> None:
    settings.require_redis_url()
    settings.require_broker_url()
    settings.require_postgres_url()


@signals.beat_init.connect
@signals.celeryd_init.connect
def _quiet_routine_logs(**_: Any) -> None:
    from workers.console import quiet_routine_logs

    quiet_routine_logs()


@signals.celeryd_after_setup.connect
def _serve_all_tenants_by_default(sender: str, instance: Any, **_: Any) -> None:
    """A plain ``celery -A workers worker`` (no ``-Q``) serves every tenant, as
    ``alerting worker`` does, instead of only the ingest queue."""
    queues = instance.app.amqp.queues
    # kombu keeps the -Q selection in `_consume_from` (None when no -Q was given).
    if getattr(queues, "_consume_from", None) is not None:
        return
    from workers.pools import PoolSpec, follow_new_tenants, known_tenants

    served: set[str] = set()
    for tenant_id in known_tenants():
        for queue in tenant_queues(tenant_id):
            queues.select_add(queue)
        served.add(tenant_id)
    follow_new_tenants(instance.app, PoolSpec(), served)
