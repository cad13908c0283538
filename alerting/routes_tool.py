"""``alerting routes test``: where an alert would go, read from the tenant file, sending nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alerting.domain.durations import format_duration
from alerting.domain.errors import InvalidInput, UnknownTenant
from alerting.domain.events import parse_severity
from alerting.domain.matchers import alert_facts
from alerting.domain.routing import RouteMatch, SlackChannelRouter
from alerting.domain.tenants import TenantConfig, load_tenant_file


def tenant_from_dir(
    directory: Path, tenant_id: str, webhook_hosts: frozenset[str] | None
) -> TenantConfig:
    """The tenant's own file (``<tenant>.yaml`` or ``.yml``); other files are not read, so a
    broken neighbour does not hide this tenant's routes."""
    for suffix in (".yaml", ".yml"):
        path = directory / f"{tenant_id}{suffix}"
        if path.is_file():
            return load_tenant_file(path, webhook_hosts)
    raise UnknownTenant(tenant_id)


def route_sample(
    tenant: TenantConfig,
    *,
    alert_type: str,
    severity: str,
    environment: str | None,
    labels: dict[str, str],
) -> dict[str, Any]:
    try:
        level = parse_severity(severity)
    except ValueError as exc:
        raise InvalidInput("command line", [("--severity", str(exc))]) from None
    facts = alert_facts(
        alert_type=alert_type, severity=level.value, environment=environment, labels=labels
    )
    matches = SlackChannelRouter(tenant).match(facts)
    named = next((m.escalation_policy for m in matches if m.escalation_policy), None)
    policy = named or tenant.severity_policies.get(level)
    return {
        "tenant_id": tenant.tenant_id,
        "alert": {
            "alert_type": alert_type,
            "severity": level.value,
            "environment": environment,
            "labels": labels,
        },
        "matches": [_match_dict(m) for m in matches],
        "channels": list(dict.fromkeys(c for m in matches for c in m.channels)),
        "escalation_policy": policy,
        "escalation_policy_from": "route" if named else ("severity" if policy else None),
    }


def _match_dict(found: RouteMatch) -> dict[str, Any]:
    return {
        "route": found.path,
        "channels": list(found.channels),
        "mention": found.mention,
        "group_by": list(found.group_by) if found.group_by is not None else None,
        "group_wait": found.group_wait,
        "group_interval": found.group_interval,
        "repeat_interval": found.repeat_interval,
        "escalation_policy": found.escalation_policy,
    }


def describe(result: dict[str, Any]) -> list[str]:
    """The human-readable answer, one line per fact."""
    lines = []
    for found in result["matches"]:
        lines.append(f"route {found['route']}")
        lines.append(f"  channels: {', '.join(found['channels'])}")
        lines.append(f"  mention: {found['mention'] or '(none)'}")
        if found["group_by"] is None:
            lines.append("  grouping: none (one message per alert)")
        else:
            lines.append(
                f"  grouping: by {', '.join(found['group_by']) or '(nothing)'}; "
                f"group_wait {format_duration(found['group_wait'])}, "
                f"group_interval {format_duration(found['group_interval'])}, "
                f"repeat_interval {format_duration(found['repeat_interval'])}"
            )
    policy = result["escalation_policy"]
    source = {"route": " (from the route)", "severity": " (from severity_policies)"}
    lines.append(
        "escalation policy: "
        + (f"{policy}{source[result['escalation_policy_from']]}" if policy else "(none)")
    )
    return lines
