from __future__ import annotations

import uuid
from typing import Any

from celery import Task

from alerting.pipeline.integrate import run_integration_call
from alerting.queues import INTEGRATE_TASK
from alerting.secrets import SecretBox
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=INTEGRATE_TASK, bind=True, **INFRASTRUCTURE_RETRY)
def integrate(self: Task[Any, Any], tenant_id: str, call_id: str) -> str:
    """Send one PagerDuty or ServiceNow call; retries and waits are decided by its row."""
    settings = get_settings()
    result = run_integration_call(
        uuid.UUID(call_id),
        token=str(self.request.id),
        settings=settings,
        box=SecretBox.from_settings(settings),
    )
    if result.retry_in is not None:
        # max_retries=None (INFRASTRUCTURE_RETRY): the attempt bound lives in the row.
        raise self.retry(countdown=result.retry_in)
    return result.state
