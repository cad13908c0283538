"""SQLAlchemy models: the system of record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, uuid.UUID: UUID(as_uuid=True)}


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: The validated TenantConfig as JSON (secrets inside are encrypted).
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    #: First characters of the key, shown to operators to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the whole key; keys are random 256-bit secrets, so a fast hash suffices.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    #: What the key may do (alerting/authz.py); NULL for keys made before scopes existed,
    #: which keep working as ``alerts:write`` + ``alerts:respond``.
    scopes: Mapped[list[str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # One open alert per fingerprint: repeats fold into it, also under concurrent ingest.
        Index(
            "uq_alerts_open_fingerprint",
            "tenant_id",
            "fingerprint",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_alerts_tenant_last_seen", "tenant_id", "last_seen_at"),
        # Counting a fingerprint's recent firings (flapping).
        Index(
            "ix_alerts_tenant_fingerprint_first_seen", "tenant_id", "fingerprint", "first_seen_at"
        ),
        # Inhibition looks for open alerts whose labels contain given ones (``@>``).
        Index(
            "ix_alerts_open_labels",
            "labels",
            postgresql_using="gin",
            postgresql_ops={"labels": "jsonb_path_ops"},
            postgresql_where=text("status <> 'resolved'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    alert_type: Mapped[str] = mapped_column(String(128))
    severity: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    source: Mapped[str | None] = mapped_column(String(200))
    #: firing → acknowledged → resolved
    status: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    #: The ServiceNow incident opened for this alert (its number is shown in Slack).
    servicenow_number: Mapped[str | None] = mapped_column(String(40))
    servicenow_sys_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AlertEventRow(Base):
    """Every event that reached the pipeline: producer events and lifecycle actions.

    ``routed_at`` is null until the router has written the event's notifications; the sweeper
    re-enqueues routing for events left unrouted (the broker was down after the commit).
    """

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_alert_events_idempotency"),
        # Counting a tenant's events by time (anomaly detection, incident prediction).
        Index("ix_alert_events_tenant_received", "tenant_id", "received_at"),
        Index(
            "ix_alert_events_unrouted", "received_at", postgresql_where=text("routed_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    #: created | repeated | acknowledged | resolved | unmatched_resolve
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = _now()
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """One Slack message to send. ``state`` is the delivery state machine:

    pending → sending → sent | retrying → sending … | dead | rerouted (a copy goes to the
    tenant's fallback channel); any of pending/retrying → held while the destination's
    circuit breaker is open, → pending again when it is released, oldest first
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", name="uq_notifications_event_channel"),
        # The queue of notifications parked by an open circuit breaker, oldest first.
        Index(
            "ix_notifications_held",
            "tenant_id",
            "channel",
            "created_at",
            postgresql_where=text("state = 'held'"),
        ),
        Index(
            "ix_notifications_unfinished",
            "updated_at",
            postgresql_where=text("state IN ('pending', 'sending', 'retrying')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    #: firing | repeated | acknowledged | resolved
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(100))
    #: The group whose digest this is (kind ``digest``); its alert is the group's first member,
    #: whose message in each channel is the group's message.
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE")
    )
    #: Where it was meant to go when it was re-routed to the fallback channel, and why.
    original_channel: Mapped[str | None] = mapped_column(String(100))
    rerouted_because: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Celery task id holding the ``sending`` claim; a redelivery of that same task may resume.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The posting slot booked with the rate limiter while the notification waits for it.
    slot_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    #: Who a firing message notifies, from the route that sent it there (``<!subteam^…>``).
    mention: Mapped[str | None] = mapped_column(String(400))


class AlertMessage(Base):
    """Where an alert's Slack message lives in a channel (Web API mode): follow-ups update it
    with ``chat.update`` and reply in its thread."""

    __tablename__ = "alert_messages"
    __table_args__ = (UniqueConstraint("alert_id", "channel", name="uq_alert_messages_channel"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(100))
    channel_id: Mapped[str] = mapped_column(String(32))
    #: The message to update.
    ts: Mapped[str] = mapped_column(String(32))
    #: The thread replies go to: ``ts`` itself, or an earlier alert's message when this one
    #: re-fired after being resolved.
    thread_ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = _now()


Index(
    "ix_alert_messages_fingerprint",
    AlertMessage.tenant_id,
    AlertMessage.fingerprint,
    AlertMessage.channel,
    AlertMessage.id,
)


class Escalation(Base):
    """An alert's climb through its policy. The policy is a snapshot taken at the start, so
    editing the tenant file mid-incident changes nothing for it."""

    __tablename__ = "escalations"
    __table_args__ = (
        # One climb per alert at a time.
        Index(
            "uq_escalations_active_alert",
            "alert_id",
            unique=True,
            postgresql_where=text("state = 'active'"),
        ),
        # The beat tick's claim query: due rows in time order.
        Index("ix_escalations_due", "next_at", postgresql_where=text("state = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    policy_name: Mapped[str] = mapped_column(String(100))
    policy: Mapped[dict[str, Any]]
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The next level to notify (index into the snapshot's levels).
    level: Mapped[int] = mapped_column(Integer, default=0)
    repeats_done: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: active | done | stopped
    state: Mapped[str] = mapped_column(String(16), default="active")
    stopped_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AlertGroup(Base):
    """Alerts of one route with equal ``group_by`` labels, told together in digests.

    ``next_flush_at`` is when beat's group flush writes the next digest: ``group_wait`` after
    the first member, no sooner than ``group_interval`` after the previous digest when members
    join or resolve, ``repeat_interval`` later as a reminder while any still fire.
    """

    __tablename__ = "alert_groups"
    __table_args__ = (
        Index(
            "uq_alert_groups_open_key",
            "tenant_id",
            "group_key",
            unique=True,
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_alert_groups_due", "next_flush_at", postgresql_where=text("state = 'open'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    #: Hash of the route and the group's label values.
    group_key: Mapped[str] = mapped_column(String(64))
    route_path: Mapped[str] = mapped_column(String(300))
    #: The ``group_by`` labels and their values, shown in the digest.
    group_labels: Mapped[dict[str, Any]]
    #: The route's channels, mention and timings when the group opened.
    settings: Mapped[dict[str, Any]]
    #: The member whose message in each channel stands for the group.
    lead_alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    #: open | closed (every member resolved and told)
    state: Mapped[str] = mapped_column(String(16), default="open")
    next_flush_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_flush_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    flushes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class AlertGroupMember(Base):
    __tablename__ = "alert_group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE"), primary_key=True
    )
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = _now()
    #: The digest (its number in the group) that first told it; null: not told yet.
    told_in: Mapped[int | None] = mapped_column(Integer)
    #: The digest that told its resolution.
    resolved_in: Mapped[int | None] = mapped_column(Integer)


class IntegrationCall(Base):
    """One call to an outside system (PagerDuty, ServiceNow): the outbox of integrations.

    pending → sending → sent | retrying → sending … | dead. An acknowledge or resolve waits
    (``pending`` with ``next_attempt_at``) while an older call of the same alert and target is
    unfinished, so it never overtakes its trigger.
    """

    __tablename__ = "integration_calls"
    __table_args__ = (
        # One call per action and target: a level or a person repeating themselves sends once.
        UniqueConstraint("alert_id", "target", "action", name="uq_integration_calls_action"),
        Index(
            "ix_integration_calls_unfinished",
            "updated_at",
            postgresql_where=text("state IN ('pending', 'sending', 'retrying')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), index=True
    )
    #: pagerduty | servicenow
    target: Mapped[str] = mapped_column(String(16))
    #: trigger | acknowledge | resolve
    action: Mapped[str] = mapped_column(String(16))
    #: Who asked for it (``user:alice``, ``system:escalation``), shown in work notes.
    actor: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Celery task id holding the ``sending`` claim.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: What the outside system answered that matters later (dedup key, incident number).
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class FlappingFingerprint(Base):
    """A fingerprint that is flapping: its changes are held until ``release_at``, which moves
    with every change; beat's group flush then tells the state it settled in."""

    __tablename__ = "flapping"
    __table_args__ = (Index("ix_flapping_release", "release_at"),)

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The latest alert of the fingerprint (the one whose state is told at the end).
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Firings within the window when it started flapping.
    fires: Mapped[int] = mapped_column(Integer)
    #: Changes held back since.
    held: Mapped[int] = mapped_column(Integer, default=0)
    release_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_alert", "tenant_id", "alert_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    alert_id: Mapped[uuid.UUID | None] = mapped_column()
    #: Who: "producer:<source>", "user:<name>", "api-key:<prefix>", "system:<component>".
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    at: Mapped[datetime] = _now()


class Silence(Base):
    """Alerts matching every matcher are muted from ``starts_at`` until ``ends_at`` (or until
    someone expires it: ``expired_at``, ``expired_by``)."""

    __tablename__ = "silences"
    __table_args__ = (
        # The muting check: a tenant's silences that have not ended, by end time.
        Index(
            "ix_silences_tenant_ends",
            "tenant_id",
            "ends_at",
            postgresql_where=text("expired_at IS NULL"),
        ),
        # Listings a page at a time: (starts_at, id) after the cursor.
        Index("ix_silences_tenant_start", "tenant_id", "starts_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    #: Matcher strings (alerting/domain/matchers.py), as written back by ``str(Matcher)``.
    matchers: Mapped[list[str]] = mapped_column(JSONB)
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    #: Set when it was ended early (the CLI, ``DELETE``); who did it.
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_by: Mapped[str | None] = mapped_column(String(200))
    #: The alert a Slack "Silence 1h" click was made on, if any.
    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now()


class AlertRateBucket(Base):
    """Alert events of one series (tenant x alert type x environment) in one bucket (a minute
    by default). Only non-empty buckets are stored; a missing bucket counts 0."""

    __tablename__ = "alert_rate_buckets"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    alert_type: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: "" for events without an environment.
    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class AlertRateSeries(Base):
    """A watched series: its detector's learned state, how far it is scored, its episode."""

    __tablename__ = "alert_rate_series"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    alert_type: Mapped[str] = mapped_column(String(128), primary_key=True)
    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The detector's SeriesState as JSON.
    state: Mapped[dict[str, Any]]
    #: Buckets before this instant are scored.
    scored_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_score: Mapped[float] = mapped_column(default=0.0)
    #: The open anomaly episode: when it started (null when the series is normal).
    episode_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Consecutive calm buckets within an open episode.
    calm: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _now()


class AnomalyCursor(Base):
    """Per tenant: events before ``counted_until`` are in the buckets."""

    __tablename__ = "anomaly_cursors"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    counted_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PredictionModelRow(Base):
    """Incident prediction for one tenant and service: the trained model (null with too little
    history) and the risk last told in a note."""

    __tablename__ = "prediction_models"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[dict[str, Any] | None]
    incidents: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_risk: Mapped[float] = mapped_column(default=0.0)
    noted_risk: Mapped[float | None]
    noted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeadLetter(Base):
    """A broker message no task could run (undecodable, wrongly shaped, missing headers),
    kept as it was received so an operator can read it, replay it by hand, or purge it."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    #: The queue it was consumed from.
    queue: Mapped[str] = mapped_column(String(200))
    #: Its ``id`` and ``task`` headers, when it had usable ones.
    message_id: Mapped[str | None] = mapped_column(String(255))
    task: Mapped[str | None] = mapped_column(String(255))
    #: Why it was refused: a short code (the metric's ``reason`` label), then the details.
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    #: The headers as JSON text (every non-ASCII and control character escaped).
    headers: Mapped[str] = mapped_column(Text)
    #: The body's bytes, exactly as received.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(255))
    content_encoding: Mapped[str | None] = mapped_column(String(64))
    #: The worker node that refused it.
    worker: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = _now()


class SlackMessage(Base):
    """Every Slack message that told an alert: its own post, the digests that listed it, the
    updates of its message and the thread lines about it. ``ts`` is null for webhooks."""

    __tablename__ = "slack_messages"
    __table_args__ = (
        # One row per notification, alert and kind: a recorded outcome is never written twice.
        UniqueConstraint(
            "notification_id", "alert_id", "kind", name="uq_slack_messages_notification"
        ),
        Index("ix_slack_messages_alert", "alert_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(63))
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    notification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(100))
    ts: Mapped[str | None] = mapped_column(String(32))
    #: alert | digest | thread_reply | update | escalation | follow_up
    kind: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = _now()


class Incident(Base):
    """Alerts that share a cause (alerting/intelligence/correlation.py): one per cause."""

    __tablename__ = "incidents"
    __table_args__ = (
        # Assignment loads a tenant's incidents still taking members, by their last one.
        Index("ix_incidents_tenant_last_member", "tenant_id", "last_member_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    #: firing while any member fires, else acknowledged while any is, else resolved.
    status: Mapped[str] = mapped_column(String(16))
    #: The worst severity of its members.
    severity: Mapped[str] = mapped_column(String(16))
    #: The probable root cause: the service (or, without one, the alert type) failing deepest.
    root_cause: Mapped[str | None] = mapped_column(String(300))
    #: 0-1: the share of its services that depend on the root cause.
    confidence: Mapped[float] = mapped_column(default=0.0)
    #: ``occurred_at`` of its first and last members: it takes members until last + window.
    first_member_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_member_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: Users merged it into another: it takes no members and is not listed.
    merged_into: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class IncidentMember(Base):
    """An alert in an incident, and why it joined. An alert is in one incident at most."""

    __tablename__ = "incident_members"
    __table_args__ = (Index("ix_incident_members_incident", "incident_id", "occurred_at"),)

    alert_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(63))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The score that made it join (0 for the member that opened the incident).
    score: Mapped[float] = mapped_column(default=0.0)
    reason: Mapped[str] = mapped_column(Text)
    #: Set by a correction (merge, split): who placed it there.
    placed_by: Mapped[str | None] = mapped_column(String(200))
    joined_at: Mapped[datetime] = _now()


class CorrelationFeedback(Base):
    """A tenant's corrections as pairs of alert signatures ("service|alert_type") that users
    kept apart (split) or put together (merge); the scorer reads them."""

    __tablename__ = "correlation_feedback"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    left_signature: Mapped[str] = mapped_column(String(400), primary_key=True)
    right_signature: Mapped[str] = mapped_column(String(400), primary_key=True)
    #: apart | together
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()


class User(Base):
    """A person who signs in to ``/ui/``; what they may do is in :class:`UserRole`."""

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    #: Stored lowercased, so sign-in does not depend on how it was typed.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: Argon2id, in the PHC string format argon2-cffi writes.
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()


class UserRole(Base):
    """A user's role in one tenant; a user may hold roles in several tenants."""

    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))
