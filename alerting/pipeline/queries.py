"""Read side: an alert with its notifications and audit trail (CLI and HTTP API)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AuditEntry, Notification, SlackMessage
from alerting.pipeline.lifecycle import find_alert


def alert_details(
    session: Session, alert_or_event_id: str | uuid.UUID, *, tenant_id: str | None = None
) -> dict[str, Any]:
    alert = find_alert(session, alert_or_event_id, tenant_id=tenant_id)
    notifications = session.scalars(
        select(Notification)
        .where(Notification.alert_id == alert.id)
        .order_by(Notification.created_at, Notification.channel)
    ).all()
    audit = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.tenant_id == alert.tenant_id, AuditEntry.alert_id == alert.id)
        .order_by(AuditEntry.id)
    ).all()
    return {
        "alert": _alert(alert),
        "notifications": [
            {
                "id": str(n.id),
                "kind": n.kind,
                "channel": n.channel,
                "original_channel": n.original_channel,
                "mention": n.mention,
                "state": n.state,
                "attempts": n.attempts,
                "last_error": n.last_error,
                "slack_ts": n.slack_ts,
                "sent_at": _iso(n.sent_at),
                "created_at": _iso(n.created_at),
            }
            for n in notifications
        ],
        "audit": [
            {"at": _iso(a.at), "actor": a.actor, "action": a.action, "detail": a.detail}
            for a in audit
        ],
        # Every Slack message that told this alert (its own, digests, updates, thread lines).
        "slack_messages": [
            {"channel": m.channel, "ts": m.ts, "kind": m.kind, "sent_at": _iso(m.sent_at)}
            for m in session.scalars(
                select(SlackMessage)
                .where(SlackMessage.alert_id == alert.id)
                .order_by(SlackMessage.id)
            )
        ],
    }


def _alert(alert: Alert) -> dict[str, Any]:
    return {
        "id": str(alert.id),
        "tenant_id": alert.tenant_id,
        "fingerprint": alert.fingerprint,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "environment": alert.environment,
        "status": alert.status,
        "message": alert.message,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "source": alert.source,
        "count": alert.count,
        "first_seen_at": _iso(alert.first_seen_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_by": alert.resolved_by,
        "resolved_at": _iso(alert.resolved_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def list_alerts(
    session: Session, *, tenant_id: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    query = select(Alert).order_by(Alert.last_seen_at.desc()).limit(limit)
    if tenant_id:
        query = query.where(Alert.tenant_id == tenant_id)
    if status:
        query = query.where(Alert.status == status)
    return [_alert(a) for a in session.scalars(query)]
