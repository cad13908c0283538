from __future__ import annotations

import uuid
from typing import Any

from celery import Task

from alerting.pipeline.deliver import deliver_notification
from alerting.producer import enqueue_deliver
from alerting.queues import DELIVER_TASK
from alerting.secrets import SecretBox
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=DELIVER_TASK, bind=True, **INFRASTRUCTURE_RETRY)
def deliver(
    self: Task[Any, Any], tenant_id: str, notification_id: str, urgent: bool = False
) -> str:
    settings = get_settings()
    result = deliver_notification(
        uuid.UUID(notification_id),
        token=str(self.request.id),
        settings=settings,
        box=SecretBox.from_settings(settings),
    )
    for follow_up in result.follow_ups:
        enqueue_deliver(tenant_id, follow_up, app=app, urgent=urgent)
    if result.retry_in is not None:
        # The attempt count and the give-up decision live in the notification row.
        raise self.retry(countdown=result.retry_in)
    return result.state
