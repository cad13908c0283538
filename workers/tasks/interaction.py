from __future__ import annotations

import logging

from alerting.db.session import session_scope
from alerting.metrics import TIME_TO
from alerting.pipeline.lifecycle import InvalidTransition, acknowledge_alert, resolve_alert
from alerting.pipeline.silences import silence_alert_for_an_hour
from alerting.producer import enqueue_integration, enqueue_route
from alerting.queues import INTERACTION_TASK
from workers.app import INFRASTRUCTURE_RETRY, app

log = logging.getLogger(__name__)

#: What a button may ask for; anything else is refused, never taken for a resolution.
LIFECYCLE_CHANGES = {"acknowledge": acknowledge_alert, "resolve": resolve_alert}


@app.task(name=INTERACTION_TASK, **INFRASTRUCTURE_RETRY)
def interaction(tenant_id: str, alert_id: str, action: str, by: str) -> str:
    """A button clicked in Slack: the same lifecycle change as the CLI or the HTTP API, or a
    one-hour silence of the alert."""
    if action == "silence":
        with session_scope() as session:
            silenced = silence_alert_for_an_hour(session, tenant_id, alert_id, by=by)
        if silenced is None:
            return "unchanged"  # resolved meanwhile: nothing left to silence
        enqueue_route(tenant_id, silenced[1], app=app, urgent=True)
        return "silenced"
    change = LIFECYCLE_CHANGES.get(action)
    if change is None:
        log.error("interaction on alert %s refused: unknown action %r", alert_id, action)
        return "refused"
    try:
        with session_scope() as session:
            result = change(session, alert_id, by=by, tenant_id=tenant_id)
    except InvalidTransition:
        return "unchanged"  # acknowledged after it was resolved: nothing to do
    if result.event_id is not None:
        enqueue_route(tenant_id, result.event_id, app=app, urgent=True)
        for call_id in result.integration_calls:
            enqueue_integration(tenant_id, call_id, app=app)
        if result.elapsed is not None:
            TIME_TO.labels(tenant=tenant_id, transition=result.status).observe(result.elapsed)
    return result.status
