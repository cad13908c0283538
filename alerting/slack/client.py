"""Slack's two delivery APIs, each request's outcome classified for the retry policy.

``SlackWebhookHandler`` posts to incoming webhooks; ``SlackWebApi`` calls ``chat.postMessage``
and ``chat.update`` with a bot token. Neither retries or sleeps: the delivery task does, with a
countdown, so no worker slot waits on Slack.

Outcome table: what each Slack answer means for delivery. The delivery code acts on the
outcome kind only; ``tests/tasks/test_outcomes.py`` walks every row against the sandbox.

sent          webhook 200 ``ok``; Web API ``"ok": true`` (its ``channel`` and ``ts`` are kept)
rate_limited  HTTP 429 with ``Retry-After: n``, Web API ``ratelimited``: retry in exactly n s
transient     5xx, connection error, timeout; Web API ``fatal_error``, ``internal_error``,
              ``service_unavailable``, ``request_timeout``: retry with capped backoff
channel       webhook 404 ``channel_not_found``, 410 ``channel_is_archived``; Web API
              ``channel_not_found``, ``is_archived``, ``not_in_channel``: the tenant's
              fallback channel, else dead
gone          Web API ``message_not_found``, ``thread_not_found``, ``cant_update_message``
              (the message to update or reply to was deleted): post a new message instead
permanent     webhook 400 ``invalid_payload``, ``no_text``, 403 ``action_prohibited``, 404
              ``no_service``; Web API ``invalid_auth``, ``not_authed``, ``token_revoked``,
              ``account_inactive``, ``missing_scope``, ``msg_too_long``, ``invalid_blocks``,
              ``no_text``; any other 4xx or error: dead, with Slack's reason
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

#: Errors meaning "this channel can't take it", so the fallback channel may.
CHANNEL_ERRORS = frozenset(
    {"channel_not_found", "channel_is_archived", "is_archived", "not_in_channel"}
)
#: Retry-After assumed when a 429 comes without the header, in seconds.
DEFAULT_RETRY_AFTER = 1.0


#: Web API errors worth retrying: Slack's side failed, the request may succeed later.
API_TRANSIENT_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
#: Web API errors meaning the message to update or reply to no longer exists.
API_GONE_ERRORS = frozenset({"message_not_found", "thread_not_found", "cant_update_message"})


class OutcomeKind(StrEnum):
    SENT = "sent"
    GONE = "gone"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    CHANNEL = "channel"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    kind: OutcomeKind
    status: int | None
    #: Slack's error string, or a short description of the network failure.
    error: str | None = None
    retry_after: float | None = None
    ts: str | None = None
    #: The channel id Slack answered with (Web API), needed for chat.update.
    channel_id: str | None = None
    elapsed: float = 0.0


def classify_webhook(status: int, body: str, headers: dict[str, Any]) -> DeliveryOutcome:
    reason = (body or "").strip()[:200] or None
    if status == 200:
        return DeliveryOutcome(OutcomeKind.SENT, status)
    if status == 429:
        return DeliveryOutcome(
            OutcomeKind.RATE_LIMITED, status, reason or "rate_limited", retry_after_seconds(headers)
        )
    if status >= 500:
        return DeliveryOutcome(OutcomeKind.TRANSIENT, status, reason or f"http_{status}")
    if reason in CHANNEL_ERRORS:
        return DeliveryOutcome(OutcomeKind.CHANNEL, status, reason)
    return DeliveryOutcome(OutcomeKind.PERMANENT, status, reason or f"http_{status}")


def retry_after_seconds(headers: dict[str, Any]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return DEFAULT_RETRY_AFTER


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # Without one, slack_sdk (urllib) builds a default context per request: ~20 ms of CPU
    # loading the CA bundle, more than the rest of a delivery. One per process is enough.
    return ssl.create_default_context()


class SlackWebhookHandler:
    """Posts payloads to incoming webhooks through slack_sdk, without its built-in retries:
    retries belong to the delivery task, which must not sleep inside a worker slot."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    def post(self, url: str, payload: dict[str, Any]) -> DeliveryOutcome:
        # slack_sdk takes whole seconds; round up so a short timeout is never zero.
        client = WebhookClient(
            url, timeout=math.ceil(self.timeout), ssl=_ssl_context(), retry_handlers=[]
        )
        started = time.perf_counter()
        try:
            response = client.send_dict(payload)
        except TimeoutError:
            return DeliveryOutcome(OutcomeKind.TRANSIENT, None, "timeout", elapsed=_since(started))
        except OSError as exc:  # URLError, connection refused/reset: the network, not Slack
            log.info("webhook request failed: %s", type(exc).__name__)
            return DeliveryOutcome(
                OutcomeKind.TRANSIENT,
                None,
                f"network: {type(exc).__name__}",
                elapsed=_since(started),
            )
        outcome = classify_webhook(response.status_code, response.body, dict(response.headers))
        return DeliveryOutcome(
            outcome.kind,
            outcome.status,
            outcome.error,
            outcome.retry_after,
            elapsed=_since(started),
        )


def _since(started: float) -> float:
    return time.perf_counter() - started


def classify_api(status: int, error: str | None, headers: dict[str, Any]) -> DeliveryOutcome:
    """A failed Web API call (``"ok": false`` or a non-200 answer)."""
    reason = error or f"http_{status}"
    if status == 429 or reason == "ratelimited":
        return DeliveryOutcome(
            OutcomeKind.RATE_LIMITED, status, "ratelimited", retry_after_seconds(headers)
        )
    if status >= 500 or reason in API_TRANSIENT_ERRORS:
        return DeliveryOutcome(OutcomeKind.TRANSIENT, status, reason)
    if reason in CHANNEL_ERRORS:
        return DeliveryOutcome(OutcomeKind.CHANNEL, status, reason)
    if reason in API_GONE_ERRORS:
        return DeliveryOutcome(OutcomeKind.GONE, status, reason)
    return DeliveryOutcome(OutcomeKind.PERMANENT, status, reason)


class SlackWebApi:
    """``chat.postMessage`` / ``chat.update`` through slack_sdk's WebClient, without its retry
    handlers (a 429 must become a task countdown, never a sleep inside the worker)."""

    def __init__(self, token: str, *, base_url: str, timeout: float = 10.0) -> None:
        self._client = WebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=math.ceil(timeout),
            ssl=_ssl_context(),
            retry_handlers=[],
        )

    def post_message(
        self,
        channel: str,
        payload: dict[str, Any],
        *,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> DeliveryOutcome:
        args: dict[str, Any] = {"channel": channel, **payload}
        if thread_ts:
            args["thread_ts"] = thread_ts
            if reply_broadcast:
                args["reply_broadcast"] = True
        if metadata:
            args["metadata"] = metadata
        return self._call("chat.postMessage", args)

    def find_posted(
        self, channel_id: str, notification_id: str, *, oldest: float
    ) -> DeliveryOutcome | None:
        """A message we posted for this notification since ``oldest`` (epoch seconds), found
        by its metadata: the way to tell whether a post whose answer was lost went through."""
        try:
            response = self._client.conversations_history(
                channel=channel_id, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200
            )
        except (SlackApiError, OSError):
            return None  # unknown: the caller posts (at least once rather than never)
        for message in response.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("notification_id") == notification_id:
                return DeliveryOutcome(
                    OutcomeKind.SENT, 200, ts=message.get("ts"), channel_id=channel_id
                )
        return None

    def update(self, channel_id: str, ts: str, payload: dict[str, Any]) -> DeliveryOutcome:
        return self._call("chat.update", {"channel": channel_id, "ts": ts, **payload})

    def _call(self, method: str, args: dict[str, Any]) -> DeliveryOutcome:
        started = time.perf_counter()
        try:
            response = self._client.api_call(method, json=args)
        except SlackApiError as exc:
            outcome = classify_api(
                exc.response.status_code, exc.response.get("error"), dict(exc.response.headers)
            )
            return _timed(outcome, started)
        except TimeoutError:
            return DeliveryOutcome(OutcomeKind.TRANSIENT, None, "timeout", elapsed=_since(started))
        except OSError as exc:  # URLError, refused, reset: the network, not Slack
            log.info("Web API request failed: %s", type(exc).__name__)
            return DeliveryOutcome(
                OutcomeKind.TRANSIENT,
                None,
                f"network: {type(exc).__name__}",
                elapsed=_since(started),
            )
        return DeliveryOutcome(
            OutcomeKind.SENT,
            response.status_code,
            ts=response.get("ts"),
            channel_id=response.get("channel"),
            elapsed=_since(started),
        )


def _timed(outcome: DeliveryOutcome, started: float) -> DeliveryOutcome:
    return DeliveryOutcome(
        outcome.kind, outcome.status, outcome.error, outcome.retry_after, elapsed=_since(started)
    )
