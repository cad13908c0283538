"""Redis as the workers' broker, refusing what is not a kombu message at all.

Kombu keeps each message on a Redis list as a JSON envelope (body, headers, properties). Anyone
holding ``REDIS_URL`` can push something else onto a queue's list; kombu's Redis channel then
fails while reading it, before any consumer code runs, and the worker ends. The item was
already popped, so it does not come back, but every such item stops a worker once.

Here an envelope that kombu could not turn into a message is kept as a dead letter (see
``workers/guard.py``) and dropped; an item that is not even JSON is logged and counted (its
bytes are no longer at hand when that is found). Errors raised while a message is delivered
to the consumer are not touched: they are the consumer's.
"""

from __future__ import annotations

import binascii
import json
import logging
import socket
from queue import Empty
from typing import Any

from kombu.transport import redis

from alerting.db.dead_letters import Letter
from alerting.message_checks import OTHER_QUEUE, UNDECODABLE
from alerting.metrics import REJECTED_MESSAGES
from workers.guard import keep

log = logging.getLogger(__name__)


def envelope_problem(envelope: Any, codecs: Any) -> str | None:
    """Why kombu's virtual transport could not make a message of ``envelope``, if it could not."""
    if not isinstance(envelope, dict):
        return "the envelope is not a JSON object"
    properties = envelope.get("properties")
    if not isinstance(properties, dict):
        return "the envelope has no 'properties' object"
    if not isinstance(properties.get("delivery_tag"), str):
        return "the envelope has no 'delivery_tag'"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not all(
        isinstance(info.get(k), str) for k in ("exchange", "routing_key")
    ):
        return "the envelope's 'delivery_info' lacks 'exchange' or 'routing_key'"
    for name in ("content-type", "content-encoding"):
        if envelope.get(name) is not None and not isinstance(envelope[name], str):
            return f"the envelope's '{name}' is not text"
    if envelope.get("headers") is not None and not isinstance(envelope["headers"], dict):
        return "the envelope's 'headers' is not an object"
    body, encoding = envelope.get("body"), properties.get("body_encoding")
    if body is not None and not isinstance(body, str):
        return "the envelope's 'body' is not text"
    if encoding is not None:
        if not isinstance(encoding, str):
            return "the envelope's 'body_encoding' is not text"
        if encoding.lower() != "utf-8":
            codec = codecs.get(encoding)
            if codec is None:
                return f"unknown body encoding {encoding!r}"
            if body:
                try:
                    codec.decode(body)
                except (ValueError, TypeError, binascii.Error) as exc:
                    return f"the body does not decode as {encoding}: {exc}"
    return None


class Channel(redis.Channel):
    # Set by kombu (not in its type hints).
    connection_errors: tuple[type[BaseException], ...]

    def _brpop_read(self, **options: Any) -> Any:
        passthrough: tuple[type[BaseException], ...] = (Empty, *self.connection_errors)
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except passthrough:
            raise
        except ValueError as exc:
            if exc is getattr(self.connection, "failed_delivery", None):
                raise
            # Not JSON: kombu's reading of the popped item failed before any delivery.
            log.error("an item that is not a kombu message was dropped from a queue: %s", exc)
            REJECTED_MESSAGES.labels(queue=OTHER_QUEUE, reason=UNDECODABLE).inc()
            return True


class Transport(redis.Transport):
    Channel = Channel

    #: The last exception a consumer raised while a message was delivered to it.
    failed_delivery: BaseException | None = None

    def _deliver(self, message: Any, queue: str | None) -> None:
        problem = envelope_problem(message, self.Channel.codecs)
        if problem is not None:
            headers = message.get("headers") if isinstance(message, dict) else None
            keep(
                Letter(
                    queue=queue or OTHER_QUEUE,
                    reason=UNDECODABLE,
                    detail=problem,
                    headers=headers,
                    body=json.dumps(message, ensure_ascii=False, default=repr).encode(
                        "utf-8", errors="backslashreplace"
                    ),
                    worker=socket.gethostname(),
                )
            )
            return
        if queue:
            # The consumer's dead letters name the queue a message really came from.
            message["properties"]["delivery_info"]["queue"] = queue
        try:
            super()._deliver(message, queue)
        except Exception as exc:
            self.failed_delivery = exc
            raise
