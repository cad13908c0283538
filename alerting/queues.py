"""Queue and task names shared by producers and workers (no Celery app here)."""

from __future__ import annotations

#: Producers' events land here; any worker serving all tenants consumes it.
INGEST_QUEUE = "alerts.ingest"
#: Beat's periodic work (sweeper, later escalation ticks).
MAINTENANCE_QUEUE = "alerts.maintenance"
#: Prefix of per-tenant queues: routing and delivery for one tenant.
TENANT_QUEUE_PREFIX = "alerts.t."

INGEST_TASK = "alerting.ingest"
ROUTE_TASK = "alerting.route"
DELIVER_TASK = "alerting.deliver"
SWEEP_TASK = "alerting.sweep"
INTERACTION_TASK = "alerting.interaction"
ESCALATION_TICK_TASK = "alerting.escalation_tick"
GROUP_FLUSH_TASK = "alerting.group_flush"
INTEGRATE_TASK = "alerting.integrate"
#: Slash commands, buttons, modals and shortcuts from Slack (alerting/chatops/).
CHATOPS_TASK = "alerting.chatops"


ANOMALY_TICK_TASK = "alerting.anomaly_tick"
PREDICTION_TRAIN_TASK = "alerting.prediction_train"


def tenant_queue(tenant_id: str) -> str:
    return f"{TENANT_QUEUE_PREFIX}{tenant_id}"
