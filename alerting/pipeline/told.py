"""Which Slack messages told which alert (``slack_messages``), written when a delivery is
recorded ``sent``, in the same transaction: an alert is accounted for exactly when the message
that tells it is."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, AlertGroupMember, Notification, SlackMessage
from alerting.db.repositories import now
from alerting.domain.views import NotificationKind
from alerting.metrics import FIRST_MESSAGE
from alerting.pipeline.send import Outgoing, SendResult

#: A new message's kind by what it announces.
_POSTED_KIND = {
    NotificationKind.FIRING: "alert",
    NotificationKind.ESCALATED: "escalation",
    NotificationKind.DIGEST: "digest",
}


@dataclass(frozen=True, slots=True)
class Told:
    kind: str
    ts: str | None


def messages_of(out: Outgoing, sent: SendResult) -> list[Told]:
    """The Slack messages one successful delivery wrote or rewrote."""
    if out.destination.mode == "webhook":
        return [Told(_POSTED_KIND.get(out.kind, "follow_up"), None)]
    outcome_ts = sent.outcome.ts
    if sent.new_root is None and out.root is not None and out.kind is not NotificationKind.FIRING:
        # Rewritten in place, then a line in its thread (unless the thread was gone).
        told = [Told("digest" if out.kind is NotificationKind.DIGEST else "update", out.root.ts)]
        if outcome_ts and outcome_ts != out.root.ts:
            told.append(Told("thread_reply", outcome_ts))
        return told
    if (
        out.reopen_thread
        and sent.new_root is not None
        and sent.new_root.thread_ts != sent.new_root.ts
    ):
        return [Told("thread_reply", sent.new_root.ts)]
    ts = sent.new_root.ts if sent.new_root is not None else outcome_ts
    return [Told(_POSTED_KIND.get(out.kind, "follow_up"), ts)]


def record_told(session: Session, n: Notification, told: list[Told]) -> None:
    """Rows for the alerts these messages told: the notification's alert, or for a digest the
    members it tells for the first time and those whose resolution it tells."""
    if not told:
        return
    if n.group_id is None:
        alerts = {n.alert_id: told}
    else:
        payload = session.get_one(AlertEventRow, n.event_id).payload
        digest = int(payload.get("digest", 0))
        member = AlertGroupMember
        newly = set(
            session.scalars(
                select(member.alert_id).where(
                    member.group_id == n.group_id,
                    or_(member.told_in == digest, member.resolved_in == digest),
                )
            )
        )
        # Acknowledgements it names in its thread line.
        newly.update(uuid.UUID(str(i)) for i in payload.get("acknowledged_ids", []))
        alerts = {alert_id: told for alert_id in newly}
    if not alerts:
        return
    already = set(
        session.scalars(
            select(SlackMessage.alert_id).where(SlackMessage.alert_id.in_(list(alerts))).distinct()
        )
    )
    current = now()
    rows = [
        {
            "tenant_id": n.tenant_id,
            "alert_id": alert_id,
            "notification_id": n.id,
            "channel": n.channel,
            "ts": message.ts,
            "kind": message.kind,
            "sent_at": current,
        }
        for alert_id, messages in alerts.items()
        for message in messages
    ]
    session.execute(insert(SlackMessage).values(rows).on_conflict_do_nothing())
    _observe_first(session, n.tenant_id, [a for a in alerts if a not in already])


def _observe_first(session: Session, tenant_id: str, alert_ids: list[uuid.UUID]) -> None:
    """Publish → first Slack message, for alerts told for the first time."""
    if not alert_ids:
        return
    current = now()
    for severity, first_seen in session.execute(
        select(Alert.severity, Alert.first_seen_at).where(Alert.id.in_(alert_ids))
    ):
        FIRST_MESSAGE.labels(tenant=tenant_id, severity=severity).observe(
            max(0.0, (current - first_seen).total_seconds())
        )
