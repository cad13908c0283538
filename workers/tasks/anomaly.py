from __future__ import annotations

from alerting.db.session import session_scope
from alerting.intelligence.training import train_tenant
from alerting.producer import enqueue_deliver, enqueue_route
from alerting.queues import ANOMALY_TICK_TASK, PREDICTION_TRAIN_TASK
from alerting.settings import get_settings
from alerting.sources.anomaly import anomaly_tick as score_tenant_series
from alerting.sources.anomaly import enabled_tenants
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=ANOMALY_TICK_TASK, **INFRASTRUCTURE_RETRY)
def anomaly_tick() -> int:
    """Score the alert-count series of every tenant with anomaly detection on, one
    transaction per tenant; anomaly alerts are routed and notes delivered after commit."""
    settings = get_settings()
    with session_scope() as session:
        tenants = enabled_tenants(session)
    raised = 0
    for tenant_id, config, escalation_channel in tenants:
        with session_scope() as session:
            result = score_tenant_series(session, settings, tenant_id, config, escalation_channel)
        for tenant, event_id in result.route:
            enqueue_route(tenant, event_id, app=app)
        for tenant, notification_id in result.deliver:
            enqueue_deliver(tenant, notification_id, app=app)
        raised += len(result.route) + len(result.deliver)
    return raised


@app.task(name=PREDICTION_TRAIN_TASK, **INFRASTRUCTURE_RETRY)
def prediction_train() -> int:
    """Retrain incident prediction of every tenant with anomaly detection on."""
    with session_scope() as session:
        tenants = [
            tenant_id
            for tenant_id, config, _ in enabled_tenants(session)
            if config.prediction.enabled
        ]
    for tenant_id in tenants:
        with session_scope() as session:
            train_tenant(session, tenant_id)
    return len(tenants)
