"""SlackChannelRouter: which channels an alert goes to."""

from __future__ import annotations

from alerting.domain.events import Severity
from alerting.domain.tenants import TenantConfig


class SlackChannelRouter:
    """Tenant, environment and severity routing.

    The environment picks the channel (``environments.<env>.channel``, else
    ``default_channel``); criticals also go to ``escalation_channel``.
    """

    def __init__(self, tenant: TenantConfig) -> None:
        self.tenant = tenant

    def channels_for(self, *, severity: Severity, environment: str | None) -> list[str]:
        channels = [self.tenant.channel_for_environment(environment)]
        escalation = self.tenant.slack_config.escalation_channel
        if severity is Severity.CRITICAL and escalation and escalation not in channels:
            channels.append(escalation)
        return channels

    def fallback_channel(self, failed_channel: str) -> str | None:
        fallback = self.tenant.slack_config.fallback_channel
        return fallback if fallback and fallback != failed_channel else None
