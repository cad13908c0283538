"""Sending one notification: through an incoming webhook, or the Web API with threads.

Web API mode keeps one Slack message per alert and channel (``alert_messages``): the first
notification posts it; later ones (repeats, acknowledge, resolve) rewrite it in place with
``chat.update`` and add a line to its thread. An alert that fires again after it was resolved
answers in the old thread, and a critical one also shows in the channel (``reply_broadcast``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from alerting.db.repositories import TenantRecord
from alerting.domain.views import NotificationKind
from alerting.metrics import MESSAGES_UPDATED, SLACK_LATENCY
from alerting.settings import Settings
from alerting.slack.client import (
    DeliveryOutcome,
    OutcomeKind,
    SlackWebApi,
    SlackWebhookHandler,
)

#: Seconds of clock difference allowed between us and Slack when looking back for a post.
CLOCK_SLACK = 60.0
#: ``metadata.event_type`` on every message posted through the Web API.
METADATA_EVENT_TYPE = "alert_notification"


@dataclass(frozen=True, slots=True)
class Destination:
    mode: Literal["webhook", "api"]
    #: The webhook URL or the bot token: a secret, never logged or stored in plain text.
    secret: str


def destination_for(tenant: TenantRecord, channel: str, settings: Settings) -> Destination | None:
    """The tenant's own credentials first (bot token, then webhooks), then the operator's."""
    if tenant.bot_token:
        return Destination("api", tenant.bot_token)
    webhook = tenant.webhook_for(channel)
    if webhook:
        return Destination("webhook", webhook)
    if settings.slack_bot_token:
        return Destination("api", settings.slack_bot_token.get_secret_value())
    if settings.slack_webhook_url:
        return Destination("webhook", settings.slack_webhook_url.get_secret_value())
    return None


@dataclass(frozen=True, slots=True)
class RootMessage:
    channel_id: str
    ts: str
    thread_ts: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    notification_id: str
    kind: NotificationKind
    channel: str
    destination: Destination
    #: The whole message, as it should read now.
    payload: dict[str, Any]
    #: The line added to the alert's thread for a follow-up (Web API mode).
    reply_text: str
    #: The alert's message in this channel, when there is one to update.
    root: RootMessage | None
    #: Thread of an earlier alert with the same fingerprint (a re-fired alert answers there).
    reopen_thread: str | None
    broadcast: bool
    #: Set when an earlier attempt died mid-request (epoch seconds of its claim) and the
    #: channel's id is known: Slack is asked whether that post went through before posting.
    resumed_since: float | None = None
    known_channel_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: DeliveryOutcome
    #: The message that now stands for the alert in this channel (to remember), if new.
    new_root: RootMessage | None = None


def send(out: Outgoing, settings: Settings) -> SendResult:
    if out.destination.mode == "webhook":
        outcome = SlackWebhookHandler(timeout=settings.slack_timeout).post(
            out.destination.secret, {**out.payload, "channel": out.channel}
        )
        SLACK_LATENCY.labels(method="webhook").observe(outcome.elapsed)
        return SendResult(outcome)
    api = SlackWebApi(
        out.destination.secret, base_url=settings.slack_api_url, timeout=settings.slack_timeout
    )
    metadata = {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {"notification_id": out.notification_id, "kind": out.kind.value},
    }
    if out.root is not None and out.kind is not NotificationKind.FIRING:
        updated = api.update(out.root.channel_id, out.root.ts, out.payload)
        SLACK_LATENCY.labels(method="chat.update").observe(updated.elapsed)
        if updated.kind is OutcomeKind.SENT:
            MESSAGES_UPDATED.inc()
            reply = api.post_message(
                out.root.channel_id,
                {"text": out.reply_text},
                thread_ts=out.root.thread_ts,
                metadata=metadata,
            )
            SLACK_LATENCY.labels(method="chat.postMessage").observe(reply.elapsed)
            if reply.kind is OutcomeKind.GONE:
                # The thread was deleted but the message is up to date: nothing is lost.
                return SendResult(updated)
            return SendResult(reply)
        if updated.kind is not OutcomeKind.GONE:
            return SendResult(updated)
        # The message was deleted in Slack: post the alert afresh below.
    thread = out.reopen_thread if out.kind is NotificationKind.FIRING else None
    if out.resumed_since is not None and out.known_channel_id and not thread:
        earlier = api.find_posted(
            out.known_channel_id, out.notification_id, oldest=out.resumed_since - CLOCK_SLACK
        )
        if earlier is not None and earlier.ts:
            # The dead attempt's post went through: adopt it instead of posting twice.
            return SendResult(earlier, RootMessage(out.known_channel_id, earlier.ts, earlier.ts))
    posted = api.post_message(
        out.channel,
        out.payload,
        thread_ts=thread,
        reply_broadcast=bool(thread) and out.broadcast,
        metadata=metadata,
    )
    SLACK_LATENCY.labels(method="chat.postMessage").observe(posted.elapsed)
    if posted.kind is OutcomeKind.GONE and thread:
        # The old thread is gone: announce the alert as a message of its own.
        posted = api.post_message(out.channel, out.payload, metadata=metadata)
        thread = None
    if posted.kind is not OutcomeKind.SENT or not (posted.ts and posted.channel_id):
        return SendResult(posted)
    return SendResult(posted, RootMessage(posted.channel_id, posted.ts, thread or posted.ts))
