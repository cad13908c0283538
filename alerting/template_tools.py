"""`alerting templates render`: a sample alert through the real template engine and formatter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerting.domain.errors import AlertingError, InvalidInput
from alerting.domain.events import parse_severity
from alerting.domain.tenants import load_tenant_file
from alerting.domain.views import AlertView, MessageOptions, NotificationKind
from alerting.i18n import SUPPORTED_LOCALES
from alerting.settings import get_settings
from alerting.slack.formatter import SlackAlertFormatter
from alerting.slack.templates import SlackTemplateEngine

_KIND = {
    "firing": NotificationKind.FIRING,
    "acknowledged": NotificationKind.ACKNOWLEDGED,
    "resolved": NotificationKind.RESOLVED,
}


def render_sample(
    *,
    tenant_id: str,
    alert_type: str,
    severity: str,
    locales: tuple[str, ...],
    environment: str | None,
    message: str,
    labels: dict[str, str],
    status: str,
    interactive: bool,
) -> tuple[dict[str, Any], str]:
    settings = get_settings()
    path = settings.tenants_dir / f"{tenant_id}.yaml"
    if not path.is_file():
        raise InvalidInput("--tenant", [("tenant", f"no tenant file {path}")])
    tenant = load_tenant_file(path)
    for locale in locales:
        if locale not in SUPPORTED_LOCALES:
            raise InvalidInput("--locale", [("locale", f"{locale!r}: use en, fr or de")])
    chosen = locales or tuple(tenant.slack_config.languages[:1])
    now = datetime.now(UTC)
    view = AlertView(
        alert_id="00000000-0000-0000-0000-000000000000",
        tenant_id=tenant_id,
        tenant_name=tenant.name,
        alert_type=alert_type,
        severity=parse_severity(severity),
        message=message,
        status=status,
        environment=environment,
        labels=labels or {"host": "web-1", "service": "api"},
        annotations={"runbook_url": "https://runbooks.example.com/" + alert_type},
        source="cli",
        count=3,
        first_seen_at=now - timedelta(minutes=12),
        last_seen_at=now,
        acknowledged_by="alice" if status != "firing" else None,
        acknowledged_at=now if status != "firing" else None,
        resolved_by="bob" if status == "resolved" else None,
        resolved_at=now if status == "resolved" else None,
    )
    formatter = SlackAlertFormatter(SlackTemplateEngine(settings.tenants_dir))
    payload = formatter.format(
        view,
        _KIND[status],
        MessageOptions(
            locales=chosen,
            interactive=interactive,
            allow_mentions=tenant.slack_config.allow_mentions,
        ),
    )
    return payload, preview(payload)


def preview(payload: dict[str, Any]) -> str:
    """The message as plain text, block by block."""
    lines: list[str] = []
    for block in payload["blocks"]:
        if block.get("text"):
            lines.append(block["text"]["text"])
        for item in block.get("fields", []):
            lines.append("  " + item["text"].replace("\n", ": ", 1))
        for element in block.get("elements", []):
            text = element.get("text")
            lines.append(f"[{text['text']}]" if isinstance(text, dict) else str(text))
        if block["type"] == "divider":
            lines.append("—" * 20)
    return "\n".join(lines)


def post_sample(payload: dict[str, Any], channel: str) -> str:
    """Post through the configured Slack (the sandbox in development)."""
    from alerting.slack.client import OutcomeKind, SlackWebApi, SlackWebhookHandler

    settings = get_settings()
    if settings.slack_bot_token:
        api = SlackWebApi(
            settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            timeout=settings.slack_timeout,
        )
        outcome = api.post_message(channel, payload)
    elif settings.slack_webhook_url:
        outcome = SlackWebhookHandler(settings.slack_timeout).post(
            settings.slack_webhook_url.get_secret_value(), {**payload, "channel": channel}
        )
    else:
        raise AlertingError("--post needs SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL (or `alerting up`)")
    if outcome.kind is not OutcomeKind.SENT:
        raise AlertingError(f"Slack refused it: {outcome.error}")
    return f"posted to {channel}" + (f" (ts {outcome.ts})" if outcome.ts else "")
