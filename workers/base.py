"""The base class of every task (``Celery(task_cls=...)``)."""

from __future__ import annotations

from typing import Any

from celery import Task

from alerting.broker import broker_countdown, is_amqp


class AlertingTask(Task[Any, Any]):
    """Countdowns (retries, rate-limit waits) fit the broker: RabbitMQ's delayed delivery
    counts whole seconds, so a fraction is rounded up rather than refused."""

    def apply_async(self, *args: Any, **options: Any) -> Any:
        countdown = options.get("countdown")
        if countdown:
            amqp = is_amqp(str(self.app.conf.broker_url or ""))
            options["countdown"] = broker_countdown(float(countdown), amqp=amqp)
        return super().apply_async(*args, **options)
