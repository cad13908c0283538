"""Multi-tenant Slack alerting on Celery.

from alerting import send_alert
send_alert.delay(tenant_id="spotify-tenant-1", alert_type="high_cpu",
                 severity="critical", message="CPU > 95%")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "SlackAlertFormatter",
    "SlackAlertManager",
    "SlackChannelRouter",
    "SlackEscalationManager",
    "SlackTemplateEngine",
    "SlackWebhookHandler",
    "SyncSlackAlertManager",
    "send_alert",
]

if TYPE_CHECKING:
    from alerting.domain.routing import SlackChannelRouter
    from alerting.manager import SlackAlertManager, SyncSlackAlertManager
    from alerting.pipeline.escalation import SlackEscalationManager
    from alerting.producer import send_alert
    from alerting.slack.client import SlackWebhookHandler
    from alerting.slack.formatter import SlackAlertFormatter
    from alerting.slack.templates import SlackTemplateEngine

_LAZY = {
    "send_alert": "alerting.producer",
    "SlackAlertManager": "alerting.manager",
    "SyncSlackAlertManager": "alerting.manager",
    "SlackChannelRouter": "alerting.domain.routing",
    "SlackWebhookHandler": "alerting.slack.client",
    "SlackAlertFormatter": "alerting.slack.formatter",
    "SlackEscalationManager": "alerting.pipeline.escalation",
    "SlackTemplateEngine": "alerting.slack.templates",
}


def __getattr__(name: str) -> Any:
    # Lazy, so `import alerting` stays cheap and starts nothing (no broker, no database).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
