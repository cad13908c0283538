"""SlackWebhookHandler: one request to Slack, its outcome classified for the retry policy.

Outcome table (webhooks). Anything not listed: 4xx → permanent, 5xx → transient.

| Slack answers                               | outcome      | action                            |
|---------------------------------------------|--------------|-----------------------------------|
| 200 ``ok``                                  | sent         | record, done                      |
| 429 (``Retry-After: n``)                    | rate_limited | retry in exactly n seconds         |
| 5xx, connection error, timeout              | transient    | retry, capped exponential backoff |
| 400 ``invalid_payload``, ``no_text``        | permanent    | dead, with Slack's reason         |
| 403 ``action_prohibited``                   | permanent    | dead                              |
| 404 ``channel_not_found``, 410 ``channel_is_archived`` | channel | fallback channel, else dead   |
| 404 ``no_service`` (webhook revoked)        | permanent    | dead                              |
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

from slack_sdk.webhook import WebhookClient

log = logging.getLogger(__name__)

#: Errors meaning "this channel can't take it", so the fallback channel may.
CHANNEL_ERRORS = frozenset(
    {"channel_not_found", "channel_is_archived", "is_archived", "not_in_channel"}
)
#: Retry-After assumed when a 429 comes without the header, in seconds.
DEFAULT_RETRY_AFTER = 1.0


class OutcomeKind(StrEnum):
    SENT = "sent"
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
