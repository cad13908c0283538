from __future__ import annotations

from typing import Any

from alerting.chatops.replies import GroupDirectory, answer
from alerting.chatops.service import ChatopsRequest, handle
from alerting.db.repositories import load_tenant
from alerting.db.session import session_scope
from alerting.metrics import TIME_TO
from alerting.producer import enqueue_deliver, enqueue_integration, enqueue_route
from alerting.queues import CHATOPS_TASK
from alerting.secrets import SecretBox
from alerting.settings import get_settings
from workers.app import INFRASTRUCTURE_RETRY, app


@app.task(name=CHATOPS_TASK, **INFRASTRUCTURE_RETRY)
def chatops(tenant_id: str, request: dict[str, Any]) -> str:
    """A slash command, button, modal or shortcut from Slack: one change in one transaction,
    then the follow-ups (the message updated in place, escalation levels, pages) and the
    answer to the caller alone."""
    settings = get_settings()
    req = ChatopsRequest.from_dict({**request, "tenant_id": tenant_id})
    with session_scope() as session:

        def bot_token() -> str | None:
            # Only a permission naming user groups asks Slack: decrypt the token then.
            token = load_tenant(session, tenant_id, SecretBox.from_settings(settings)).bot_token
            if token is None and settings.slack_bot_token is not None:
                token = settings.slack_bot_token.get_secret_value()
            return token

        outcome = handle(session, req, GroupDirectory(settings, bot_token).members)
    for tenant, event_id in outcome.events:
        enqueue_route(tenant, event_id, app=app)
    for tenant, notification_id in outcome.deliveries:
        enqueue_deliver(tenant, notification_id, app=app)
    for tenant, call_id in outcome.integration_calls:
        enqueue_integration(tenant, call_id, app=app)
    for transition, elapsed in outcome.timings:
        TIME_TO.labels(tenant=tenant_id, transition=transition).observe(elapsed)
    answer(req.response_url, outcome.text, timeout=settings.slack_timeout)
    return outcome.result
