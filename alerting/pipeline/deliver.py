"""Deliver: claim a notification, post it to Slack, record what Slack said.

Idempotency rests on the notification's state machine. A notification is claimed
(``sending`` + the Celery task id as claim token) in one transaction, posted outside any
transaction, and its outcome recorded in a second one. A redelivered task finds ``sent`` and
does nothing; a duplicate task (sweeper) finds a fresh claim held by another task and leaves
it alone; the redelivery of the very task whose worker died finds its own token and resumes.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.breaker import Breaker, BreakerState, redis_client
from alerting.db.models import Alert, AlertEventRow, AlertGroup, AlertMessage, Notification
from alerting.db.repositories import TenantRecord, add_notification, audit, load_tenant, now
from alerting.db.session import session_scope
from alerting.domain.backoff import retry_ceiling, retry_countdown
from alerting.domain.durations import format_duration
from alerting.domain.events import Severity
from alerting.domain.oncall import PRIMARY_SCHEDULE, oncall_mention, slack_mention
from alerting.domain.priority import Priority, priority_of
from alerting.domain.routing import SlackChannelRouter
from alerting.domain.views import (
    AlertView,
    DigestMember,
    DigestView,
    MessageOptions,
    NotificationKind,
)
from alerting.i18n import translator
from alerting.metrics import FOLDED, NOTIFICATIONS, RATE_LIMIT_WAITS, SLOT_WAITS, WAITING
from alerting.pipeline.flapping import flapping_context
from alerting.pipeline.fold import fold_notification
from alerting.pipeline.grouping import (
    changed_members,
    group_stats,
    new_members,
    open_by_severity,
    top_members,
)
from alerting.pipeline.send import (
    Destination,
    Outgoing,
    RootMessage,
    SendResult,
    destination_for,
    send,
)
from alerting.pipeline.told import Told, messages_of, record_told
from alerting.ratelimit import Grant, SlackRateLimiter
from alerting.secrets import SecretBox
from alerting.settings import Settings
from alerting.slack.client import DeliveryOutcome, OutcomeKind
from alerting.slack.digest import LISTED_MEMBERS, NAMED_NEW_MEMBERS, digest_reply, format_digest
from alerting.slack.formatter import SlackAlertFormatter, mentions_in
from alerting.slack.templates import SlackTemplateEngine

log = logging.getLogger(__name__)

#: ``folded``: told by its channel's digest instead of a message of its own (see fold.py).
FINAL_STATES = frozenset({"sent", "dead", "rerouted", "folded"})
#: Extra seconds, past the HTTP timeout, before another task may take over a ``sending`` claim.
CLAIM_GRACE_SECONDS = 5.0
#: A wait shorter than this (seconds) is not worth a round trip through the broker.
SLOT_PRECISION_SECONDS = 0.02


def claim_stale_seconds(settings: Settings) -> float:
    """How long a ``sending`` claim is trusted: connect and read may each take the timeout."""
    return 2 * settings.slack_timeout + CLAIM_GRACE_SECONDS


@dataclass(slots=True)
class DeliveryResult:
    state: str
    #: Seconds until the task should run again (``self.retry(countdown=...)``), if at all.
    retry_in: float | None = None
    #: New notifications to enqueue (the fallback channel's copy).
    follow_ups: list[uuid.UUID] = field(default_factory=list)


#: Metric label of each state a delivery attempt can leave a notification in.
OUTCOME_LABELS = {"retrying": "retried"}
#: Where a notification's state comes from when its alert's message is rewritten in place.
_KIND_OF_STATUS = {
    "firing": NotificationKind.FIRING,
    "acknowledged": NotificationKind.ACKNOWLEDGED,
    "resolved": NotificationKind.RESOLVED,
}


def deliver_notification(
    notification_id: uuid.UUID, *, token: str, settings: Settings, box: SecretBox
) -> DeliveryResult:
    with session_scope() as session:
        claim = _claim(session, notification_id, token, settings, box)
    if isinstance(claim, DeliveryResult):
        return claim
    if claim.outgoing is None:
        sent = SendResult(
            DeliveryOutcome(OutcomeKind.PERMANENT, None, "no Slack destination configured")
        )
    else:
        # Paced right before the request, after rendering: the slot is when Slack sees it.
        turn = _pace(claim, settings)
        if turn is not None:
            if claim.foldable and turn.wait > settings.max_wait_seconds:
                # Its line is longer than the bound: told by the channel's digest instead.
                with session_scope() as session:
                    folded = fold_notification(
                        session,
                        notification_id,
                        token,
                        settings,
                        rate_limit=claim.rate_limit,
                        webhook=claim.outgoing.destination.mode == "webhook",
                    )
                if folded:
                    limiter_for(settings).leave(
                        claim.tenant_id, claim.channel, str(notification_id)
                    )
                    FOLDED.labels(tenant=claim.tenant_id, channel=claim.channel).inc()
                    return DeliveryResult("folded")
            with session_scope() as session:
                _wait_in_line(session, notification_id, token, claim, turn)
            return DeliveryResult("throttled", retry_in=turn.wait)
        sent = send(claim.outgoing, settings)
    told = (
        messages_of(claim.outgoing, sent)
        if claim.outgoing is not None and sent.outcome.kind is OutcomeKind.SENT
        else []
    )
    with session_scope() as session:
        result = _record(session, notification_id, token, sent, settings, box, told)
    NOTIFICATIONS.labels(
        tenant=claim.tenant_id, outcome=OUTCOME_LABELS.get(result.state, result.state)
    ).inc()
    _log_outcome(claim, result, sent)
    return result


def _log_outcome(claim: Claim, result: DeliveryResult, sent: SendResult) -> None:
    """One line per attempt on the console: what an operator watching it looks for."""
    where = f"{claim.channel} (tenant {claim.tenant_id})"
    if result.state == "sent":
        log.info("message sent to %s", where)
    elif result.state == "retrying":
        log.warning(
            "message to %s failed: %s; retrying in %.0fs",
            where,
            sent.outcome.error or sent.outcome.status,
            result.retry_in or 0,
        )
    elif result.state == "rerouted":
        log.warning(
            "message to %s failed: %s; sent to the fallback channel instead",
            where,
            sent.outcome.error or sent.outcome.status,
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """A notification claimed (``sending``) and rendered, not yet posted."""

    tenant_id: str
    channel: str
    rate_limit: int
    outgoing: Outgoing | None
    #: The posting slot this task booked earlier and may use now, if any.
    slot: datetime | None
    #: What the claim changed, to put back when the post must wait for a later slot.
    previous_state: str
    previous_attempts: int
    previous_claimed_at: datetime | None
    #: Its place in line for a slot: priority band, then the time it was written.
    priority: Priority = Priority.INFO
    created_at: datetime | None = None
    #: A new alert's own message, which may be folded into its channel's digest.
    foldable: bool = False


def _claim(
    session: Session, notification_id: uuid.UUID, token: str, settings: Settings, box: SecretBox
) -> Claim | DeliveryResult:
    n = session.execute(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    ).scalar_one_or_none()
    if n is None:
        return DeliveryResult("missing")
    if n.state in FINAL_STATES or n.state == "held":
        # Held notifications leave the queue only through a release, in order.
        return DeliveryResult(n.state)
    current = now()
    if n.state == "sending" and n.claim_token != token and n.claimed_at is not None:
        stale_after = timedelta(seconds=claim_stale_seconds(settings))
        if current - n.claimed_at < stale_after:
            # Another task is posting it right now; two posts would be a double message.
            return DeliveryResult("sending")
    if (
        n.state == "retrying"
        and n.next_attempt_at
        and n.next_attempt_at > current + timedelta(seconds=1)
    ):
        # An early duplicate (sweeper) of a retry that is scheduled later: keep the schedule.
        return DeliveryResult("retrying")
    if _must_wait(session, n, token, settings):
        n.state = "held"
        n.updated_at = current
        _audit(session, n, "notification.held", {"channel": n.channel})
        return DeliveryResult("held")
    slot: datetime | None = None
    if n.slot_at is not None:
        early = (n.slot_at - current).total_seconds()
        if early > SLOT_PRECISION_SECONDS:
            # Woken before its slot (the booking task: sleep on in the broker), or a duplicate
            # finding another task's booking (it leaves it alone).
            return DeliveryResult("throttled", retry_in=early if n.claim_token == token else None)
        slot = n.slot_at if n.claim_token == token else None
        n.slot_at = None
    previous = (n.state, n.attempts, n.claimed_at)
    tenant = load_tenant(session, n.tenant_id, box)
    # An earlier attempt that died while sending (a `sending` claim taken over), or that never
    # heard Slack's answer (timeout, network), may have posted: Slack is asked before posting.
    unanswered = n.state == "retrying" and (n.last_error or "").startswith(("timeout", "network"))
    ambiguous = n.state == "sending" or unanswered
    resumed_since = n.claimed_at.timestamp() if ambiguous and n.claimed_at else None
    n.state = "sending"
    n.claim_token = token
    n.claimed_at = current
    n.attempts += 1
    n.updated_at = current
    severity = session.scalar(select(Alert.severity).where(Alert.id == n.alert_id)) or "info"
    return Claim(
        tenant_id=n.tenant_id,
        channel=n.channel,
        rate_limit=tenant.config.slack_config.rate_limit,
        outgoing=_outgoing(session, n, tenant, settings, resumed_since),
        slot=slot,
        previous_state=previous[0],
        previous_attempts=previous[1],
        previous_claimed_at=previous[2],
        priority=priority_of(n.kind, severity),
        created_at=n.created_at,
        foldable=n.kind in (NotificationKind.FIRING.value, NotificationKind.ESCALATED.value)
        and n.group_id is None
        and n.original_channel is None,
    )


def _pace(claim: Claim, settings: Settings) -> Grant | None:
    """None: post now (the slot is taken). Otherwise its turn is not there yet: come back
    after ``wait``, still in line (more urgent newcomers may go ahead meanwhile)."""
    assert claim.outgoing is not None
    # A follow-up rewriting a message already posted spends the update budget, not a post.
    update = claim.outgoing.root is not None and claim.outgoing.kind is not NotificationKind.FIRING
    turn = limiter_for(settings).acquire(
        claim.tenant_id,
        claim.channel,
        member=claim.outgoing.notification_id,
        priority=int(claim.priority),
        enqueued_at=claim.created_at or now(),
        rate_limit=claim.rate_limit,
        update=update,
    )
    WAITING.labels(tenant=claim.tenant_id, channel=claim.channel).set(turn.waiting)
    if turn.granted:
        SLOT_WAITS.labels(tenant=claim.tenant_id, priority=str(int(claim.priority))).observe(
            turn.waited
        )
        return None
    return turn


def _wait_in_line(
    session: Session,
    notification_id: uuid.UUID,
    token: str,
    claim: Claim,
    turn: Grant,
) -> None:
    """Undo the claim: the same task (same Celery id) comes back when its turn is expected.

    The state goes back to what it was (so an earlier unanswered attempt is still looked up
    in Slack before posting).
    """
    n = session.execute(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    ).scalar_one()
    if n.state != "sending" or n.claim_token != token:
        return
    current = now()
    n.state = claim.previous_state
    n.attempts = claim.previous_attempts
    n.claimed_at = claim.previous_claimed_at
    n.slot_at = None
    n.next_attempt_at = current + timedelta(seconds=turn.wait)
    n.updated_at = current
    RATE_LIMIT_WAITS.labels(tenant=n.tenant_id).observe(turn.wait)


@lru_cache(maxsize=4)
def _limiter(
    redis_url: str, per_second: float, burst: int, updates_per_minute: float
) -> SlackRateLimiter:
    return SlackRateLimiter(
        redis_client(redis_url),
        channel_per_second=per_second,
        channel_burst=burst,
        updates_per_minute=updates_per_minute,
    )


def limiter_for(settings: Settings) -> SlackRateLimiter:
    """One per process (the Lua script is registered once)."""
    return _limiter(
        settings.require_redis_url(),
        settings.channel_per_second,
        settings.channel_burst,
        settings.updates_per_minute,
    )


@lru_cache(maxsize=2)
def _formatter(tenants_dir: Path) -> SlackAlertFormatter:
    return SlackAlertFormatter(SlackTemplateEngine(tenants_dir))


def formatter_for(settings: Settings) -> SlackAlertFormatter:
    """One per process: compiled templates are cached inside."""
    return _formatter(settings.tenants_dir.resolve())


def breaker_for(settings: Settings) -> Breaker:
    return Breaker(
        redis_client(settings.require_redis_url()),
        failures_to_open=settings.breaker_failures,
        cooldown=settings.breaker_cooldown_seconds,
        probe_ttl=claim_stale_seconds(settings),
    )


def _must_wait(session: Session, n: Notification, token: str, settings: Settings) -> bool:
    """Park the notification while its destination's breaker is open, and behind older
    parked ones so that they all go out in order once it closes."""
    state, _ = breaker_for(settings).state(n.tenant_id, n.channel)
    if state is BreakerState.OPEN:
        return True
    if state is BreakerState.HALF_OPEN:
        return not breaker_for(settings).try_probe(n.tenant_id, n.channel, token)
    return (
        session.scalar(
            select(Notification.id)
            .where(
                Notification.tenant_id == n.tenant_id,
                Notification.channel == n.channel,
                Notification.state == "held",
                Notification.created_at < n.created_at,
            )
            .limit(1)
        )
        is not None
    )


def release_next_held(session: Session, tenant_id: str, channel: str) -> list[uuid.UUID]:
    """Hand the oldest parked notification of a destination back to delivery."""
    oldest = session.scalars(
        select(Notification)
        .where(
            Notification.tenant_id == tenant_id,
            Notification.channel == channel,
            Notification.state == "held",
        )
        .order_by(Notification.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if oldest is None:
        return []
    oldest.state = "pending"
    oldest.updated_at = now()
    return [oldest.id]


def _outgoing(
    session: Session,
    n: Notification,
    tenant: TenantRecord,
    settings: Settings,
    resumed_since: float | None = None,
) -> Outgoing | None:
    destination = destination_for(tenant, n.channel, settings)
    if destination is None:
        return None
    if n.group_id is not None:
        return _digest_outgoing(session, n, tenant, destination, resumed_since)
    alert = session.get_one(Alert, n.alert_id)
    oncall = oncall_mention(tenant.config.oncall_schedules, PRIMARY_SCHEDULE, now())
    view = alert_view(alert, tenant, oncall=oncall)
    mentions = frozenset({oncall} if oncall else ())
    kind = NotificationKind(n.kind)
    locales = tenant.config.locales_for(n.channel)
    notes: tuple[str, ...] = ()
    if n.original_channel:
        notes = (
            translator(locales[0]).gettext(
                "Re-routed here: %(channel)s refused it (%(reason)s).",
                channel=n.original_channel,
                reason=n.rerouted_because,
            ),
        )
    if kind is NotificationKind.ESCALATED:
        escalation_notes, level_mentions = _escalation_notes(session, n, locales[0])
        notes += escalation_notes
        mentions |= level_mentions
    if kind is NotificationKind.SILENCED:
        notes += (silence_note(session.get_one(AlertEventRow, n.event_id).payload, locales[0]),)
    if kind in (NotificationKind.FIRING, NotificationKind.RESOLVED):
        notes += _flapping_notes(session, n, alert, tenant, locales[0])
    api = destination.mode == "api"
    options = MessageOptions(
        allow_mentions=tenant.config.slack_config.allow_mentions,
        notes=notes,
        interactive=api,
        locales=locales,
        mention=n.mention if kind is NotificationKind.FIRING else None,
        mentions=mentions,
    )
    formatter = formatter_for(settings)
    root = reopen = None
    if api:
        root = _root_message(session, n.alert_id, n.channel)
        if kind is NotificationKind.FIRING and root is None:
            reopen = _previous_thread(session, alert, n.channel)
    # A message rewritten in place shows the alert as it is now; elsewhere, what happened.
    shown = (
        _KIND_OF_STATUS[alert.status]
        if root is not None or kind is NotificationKind.SILENCED
        else kind
    )
    return Outgoing(
        notification_id=str(n.id),
        kind=kind,
        channel=n.channel,
        destination=destination,
        payload=formatter.format(view, shown, options),
        reply_text=(":mute: " + notes[-1])
        if kind is NotificationKind.SILENCED
        else formatter.thread_reply(view, kind, locales[0]),
        root=root,
        reopen_thread=reopen,
        broadcast=alert.severity == Severity.CRITICAL.value,
        resumed_since=resumed_since if api else None,
        known_channel_id=_channel_id(session, n.tenant_id, n.channel) if resumed_since else None,
    )


def _flapping_notes(
    session: Session, n: Notification, alert: Alert, tenant: TenantRecord, locale: str
) -> tuple[str, ...]:
    """A flapping alert's mark, or the line telling it settled."""
    tr = translator(locale)
    event, flapping = flapping_context(session, n.event_id, alert)
    if event.action == "flapping_ended":
        return (
            tr.gettext(
                "Stable again after flapping: %(count)s changes were held since %(since)s.",
                count=tr.number(int(event.payload.get("held", 0))),
                since=tr.datetime(datetime.fromisoformat(str(event.payload["since"]))),
            ),
        )
    if flapping is None or flapping.alert_id != alert.id or flapping.held:
        return ()
    config = tenant.config.flapping
    return (
        tr.gettext(
            "Flapping: fired %(count)s times in %(window)s; held until quiet for %(stable)s.",
            count=tr.number(flapping.fires),
            window=tr.duration(timedelta(seconds=config.window)),
            stable=tr.duration(timedelta(seconds=config.stable_for)),
        ),
    )


def _digest_outgoing(
    session: Session,
    n: Notification,
    tenant: TenantRecord,
    destination: Destination,
    resumed_since: float | None,
) -> Outgoing:
    """A group's digest, as the group is now (a late delivery shows the latest counts)."""
    assert n.group_id is not None
    group = session.get_one(AlertGroup, n.group_id)
    payload = session.get_one(AlertEventRow, n.event_id).payload
    stats = group_stats(session, group.id)
    listed = top_members(session, group.id, LISTED_MEMBERS)
    digest_number = int(payload.get("digest", group.flushes))
    new, new_count = new_members(session, group.id, digest_number, NAMED_NEW_MEMBERS)
    own = set(group.group_labels)
    view = DigestView(
        tenant_id=n.tenant_id,
        group_id=str(group.id),
        group_labels={
            k: str(group.group_labels[k])
            for k in group.settings.get("group_by", group.group_labels)
            if k in group.group_labels
        },
        route=group.route_path,
        digest=digest_number,
        firing=stats["firing"],
        acknowledged=stats["acknowledged"],
        resolved=stats["resolved"],
        occurrences=stats["occurrences"],
        members=tuple(_digest_member(a, own) for a in listed),
        more=max(0, stats["members"] - len(listed)),
        new_members=tuple(_digest_member(a, own) for a in new),
        new_count=new_count,
        resolved_since=int(payload.get("resolved", 0)),
        updated_at=group.last_flush_at,
        by_severity=open_by_severity(session, group.id),
        acknowledged_since=int(payload.get("acknowledged_since", 0)),
        changed_members=tuple(
            _digest_member(a, own)
            for a in changed_members(session, group.id, digest_number, payload)
        ),
    )
    locales = tenant.config.locales_for(n.channel)
    api = destination.mode == "api"
    return Outgoing(
        notification_id=str(n.id),
        kind=NotificationKind.DIGEST,
        channel=n.channel,
        destination=destination,
        payload=format_digest(view, locales=locales, mention=group.settings.get("mention")),
        reply_text=digest_reply(view, locales[0]),
        root=_root_message(session, n.alert_id, n.channel) if api else None,
        reopen_thread=None,
        broadcast=False,
        resumed_since=resumed_since if api else None,
        known_channel_id=_channel_id(session, n.tenant_id, n.channel) if resumed_since else None,
    )


def _digest_member(alert: Alert, group_labels: set[str]) -> DigestMember:
    return DigestMember(
        alert_type=alert.alert_type,
        severity=Severity(alert.severity),
        status=alert.status,
        message=alert.message,
        labels={k: str(v) for k, v in sorted(alert.labels.items()) if k not in group_labels},
        count=alert.count,
        alert_id=str(alert.id),
    )


def silence_note(payload: dict[str, object], locale: str) -> str:
    """The line a silence from Slack adds to the message, from the event it wrote."""
    tr = translator(locale)
    seconds = payload.get("seconds")
    if isinstance(seconds, int | float) and seconds != 3600:
        return tr.gettext(
            "Silenced for %(duration)s by %(who)s",
            duration=format_duration(seconds),
            who=str(payload.get("by") or "?"),
        )
    return tr.gettext("Silenced for 1 hour by %(who)s", who=str(payload.get("by") or "?"))


def _channel_id(session: Session, tenant_id: str, channel: str) -> str | None:
    """Slack's id for a channel name, as learnt from earlier posts (history needs the id)."""
    if not channel.startswith("#"):
        return channel
    return session.scalar(
        select(AlertMessage.channel_id)
        .where(AlertMessage.tenant_id == tenant_id, AlertMessage.channel == channel)
        .order_by(AlertMessage.id.desc())
        .limit(1)
    )


def _escalation_notes(
    session: Session, n: Notification, locale: str
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The level's lines, and the mentions in them the operator wrote (kept as mentions)."""
    payload = session.get_one(AlertEventRow, n.event_id).payload
    tr = translator(locale)
    waited = tr.duration(timedelta(seconds=float(payload.get("unacknowledged_for", 0))))
    notes = [
        tr.gettext(
            "Escalation level %(level)s: nobody acknowledged it for %(duration)s.",
            level=payload.get("level", "?"),
            duration=waited,
        )
    ]
    who = payload.get("mention")
    oncall = payload.get("oncall") or {}
    if oncall.get("user"):
        # Whoever was on call when the level fired (resolved then, by the tick).
        who = slack_mention(oncall["user"])
    if who:
        notes.append(tr.gettext("Attention: %(who)s", who=who))
    return tuple(notes), mentions_in(who or "")


def _root_message(session: Session, alert_id: uuid.UUID, channel: str) -> RootMessage | None:
    row = session.scalars(
        select(AlertMessage).where(
            AlertMessage.alert_id == alert_id, AlertMessage.channel == channel
        )
    ).one_or_none()
    return RootMessage(row.channel_id, row.ts, row.thread_ts) if row else None


def _previous_thread(session: Session, alert: Alert, channel: str) -> str | None:
    """The thread of the last alert with this fingerprint in this channel, if it was resolved."""
    return session.scalar(
        select(AlertMessage.thread_ts)
        .join(Alert, Alert.id == AlertMessage.alert_id)
        .where(
            AlertMessage.tenant_id == alert.tenant_id,
            AlertMessage.fingerprint == alert.fingerprint,
            AlertMessage.channel == channel,
            AlertMessage.alert_id != alert.id,
            Alert.status == "resolved",
        )
        .order_by(AlertMessage.id.desc())
        .limit(1)
    )


def _record(
    session: Session,
    notification_id: uuid.UUID,
    token: str,
    sent: SendResult,
    settings: Settings,
    box: SecretBox,
    told: list[Told] | None = None,
) -> DeliveryResult:
    outcome = sent.outcome
    n = session.execute(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    ).scalar_one()
    if n.claim_token != token or n.state != "sending":
        # Our claim was taken over after it went stale; the new holder records its own outcome.
        return DeliveryResult(n.state)
    current = now()
    n.updated_at = current
    n.claim_token = None
    detail: dict[str, object] = {
        "notification_id": str(n.id),
        "channel": n.channel,
        "attempt": n.attempts,
        "status": outcome.status,
    }

    if outcome.kind is OutcomeKind.SENT:
        n.state = "sent"
        n.sent_at = current
        n.slack_ts = outcome.ts
        n.last_error = None
        if sent.new_root is not None:
            _remember_root(session, n, sent.new_root)
        record_told(session, n, told or [])
        _audit(session, n, "notification.sent", detail)
        breaker_for(settings).record_success(n.tenant_id, n.channel)
        return DeliveryResult("sent", follow_ups=release_next_held(session, n.tenant_id, n.channel))

    n.last_error = outcome.error
    if outcome.kind is OutcomeKind.RATE_LIMITED:
        # Slack said exactly when; a 429 is not a failure of this message, so no attempt is used.
        n.attempts -= 1
        wait = outcome.retry_after if outcome.retry_after is not None else 1.0
        # Never past the broker's visibility timeout, or Redis would deliver the retry twice.
        wait = min(wait, settings.retry_max_seconds)
        return _schedule_retry(session, n, wait, detail, "rate_limited")

    if outcome.kind is OutcomeKind.TRANSIENT:
        cooldown = breaker_for(settings).record_failure(n.tenant_id, n.channel)
        if n.attempts >= settings.max_delivery_attempts:
            dead = _dead(
                session, n, f"gave up after {n.attempts} attempts: {outcome.error}", detail
            )
            return _settled(session, n, token, settings, dead)
        wait = retry_countdown(
            n.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
        )
        if cooldown:
            # This failure opened the breaker: come back as its probe once the cooldown ends.
            wait = max(wait, cooldown)
            detail["breaker"] = "opened"
        detail["ceiling"] = retry_ceiling(
            n.attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds
        )
        return _schedule_retry(session, n, wait, detail, outcome.error or "transient")

    if outcome.kind is OutcomeKind.CHANNEL:
        tenant = load_tenant(session, n.tenant_id, box)
        fallback = SlackChannelRouter(tenant.config).fallback_channel(n.channel)
        if fallback and n.original_channel is None:
            return _settled(
                session, n, token, settings, _reroute(session, n, fallback, outcome, detail)
            )

    dead = _dead(session, n, outcome.error or "permanent error", detail)
    return _settled(session, n, token, settings, dead)


def _settled(
    session: Session, n: Notification, token: str, settings: Settings, result: DeliveryResult
) -> DeliveryResult:
    """A notification that ended without being sent must not keep the destination's queue
    waiting: free the probe, and let the next parked one go unless the breaker is open."""
    breaker = breaker_for(settings)
    breaker.release_probe(n.tenant_id, n.channel, token)
    if breaker.state(n.tenant_id, n.channel)[0] is not BreakerState.OPEN:
        result.follow_ups.extend(release_next_held(session, n.tenant_id, n.channel))
    return result


def _remember_root(session: Session, n: Notification, root: RootMessage) -> None:
    fingerprint = session.get_one(Alert, n.alert_id).fingerprint
    stmt = insert(AlertMessage).values(
        tenant_id=n.tenant_id,
        alert_id=n.alert_id,
        fingerprint=fingerprint,
        channel=n.channel,
        channel_id=root.channel_id,
        ts=root.ts,
        thread_ts=root.thread_ts,
    )
    # A message deleted in Slack was posted again: the new one takes its place.
    session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_alert_messages_channel",
            set_={"channel_id": root.channel_id, "ts": root.ts, "thread_ts": root.thread_ts},
        )
    )


def _schedule_retry(
    session: Session,
    n: Notification,
    wait: float,
    detail: dict[str, object],
    reason: str,
) -> DeliveryResult:
    n.state = "retrying"
    n.next_attempt_at = now() + timedelta(seconds=wait)
    _audit(session, n, "notification.retry", detail, reason=reason, countdown=wait)
    return DeliveryResult("retrying", retry_in=wait)


def _dead(
    session: Session,
    n: Notification,
    reason: str,
    detail: dict[str, object],
) -> DeliveryResult:
    n.state = "dead"
    n.last_error = reason
    log.warning("notification %s to %s is dead: %s", n.id, n.channel, reason)
    _audit(session, n, "notification.dead", detail, reason=reason)
    return DeliveryResult("dead")


def _reroute(
    session: Session,
    n: Notification,
    fallback: str,
    outcome: DeliveryOutcome,
    detail: dict[str, object],
) -> DeliveryResult:
    n.state = "rerouted"
    # The event may already have a message for the fallback channel (it was routed there
    # too, or an earlier follow-up was re-routed): then that one tells the story.
    copy_id = add_notification(
        session,
        tenant_id=n.tenant_id,
        alert_id=n.alert_id,
        event_id=n.event_id,
        kind=n.kind,
        channel=fallback,
        original_channel=n.channel,
        rerouted_because=(outcome.error or "")[:200],
    )
    n.last_error = f"{outcome.error}; re-routed to {fallback}"
    _audit(session, n, "notification.rerouted", detail, reason=outcome.error, fallback=fallback)
    return DeliveryResult("rerouted", follow_ups=[copy_id] if copy_id else [])


def alert_view(alert: Alert, tenant: TenantRecord, *, oncall: str | None = None) -> AlertView:
    return AlertView(
        alert_id=str(alert.id),
        tenant_id=alert.tenant_id,
        tenant_name=tenant.config.name,
        alert_type=alert.alert_type,
        severity=Severity(alert.severity),
        message=alert.message,
        status=alert.status,
        environment=alert.environment,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        source=alert.source,
        count=alert.count,
        first_seen_at=alert.first_seen_at,
        last_seen_at=alert.last_seen_at,
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        resolved_by=alert.resolved_by,
        resolved_at=alert.resolved_at,
        incident_number=alert.servicenow_number,
        oncall=oncall,
    )


def _audit(
    session: Session, n: Notification, action: str, detail: dict[str, object], **extra: object
) -> None:
    audit(
        session,
        tenant_id=n.tenant_id,
        alert_id=n.alert_id,
        actor="system:delivery",
        action=action,
        **detail,
        **extra,
    )
