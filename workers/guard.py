"""The worker's consumer refuses, once, every message no task could run.

Anyone holding the broker's URL can publish. Celery hands a task message to the pool after
reading only a few headers, and a message it does not expect ends the whole worker: a body
that is not ``[args, kwargs, embed]`` raises ``ValueError`` while the request is built, a
missing ``id`` header a ``KeyError`` that the consumer takes for a lost connection (it restores
the message and takes it again, forever), a ``timelimit`` of ``"zz"`` breaks the pool's timer.
With late acknowledgements the message comes back after every restart.

:class:`GuardedConsumer` (``worker_consumer`` in ``workers/app.py``) checks each task message
before Celery's strategy sees it, and catches whatever the strategy raises still. A refused
message is logged with its queue and id, counted in ``alerting_rejected_messages_total{queue,
reason}``, stored as a dead letter (``alerting dead-letters``) and rejected without requeue, so
it is refused exactly once and the consumer goes on with the next message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from celery.worker.consumer import Consumer

from alerting.db.dead_letters import Letter, store_dead_letter
from alerting.message_checks import (
    BAD_HEADERS,
    OTHER_QUEUE,
    UNDECODABLE,
    UNEXPECTED,
    UNKNOWN_TASK,
    Refusal,
    check_message,
)
from alerting.metrics import REJECTED_MESSAGES
from alerting.settings import get_settings

log = logging.getLogger(__name__)


def _body_bytes(message: Any) -> bytes:
    body = message.body
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", errors="surrogatepass")
    return repr(body).encode("utf-8", errors="backslashreplace")


def _text_header(headers: Any, name: str) -> str | None:
    value = headers.get(name) if isinstance(headers, Mapping) else None
    return value if isinstance(value, str) else None


def keep(letter: Letter) -> None:
    """Log, count and store a refused message (the caller takes it off the broker)."""
    # The id is the publisher's text: quoted, so it cannot forge log lines.
    log.error(
        "message %r on queue %s refused (%s): %s",
        letter.message_id,
        letter.queue,
        letter.reason,
        letter.detail,
    )
    REJECTED_MESSAGES.labels(queue=letter.queue, reason=letter.reason).inc()
    try:
        letter_id = store_dead_letter(get_settings().require_postgres_url(), letter)
    except Exception:
        # The log is then the only copy: keep all of it there.
        log.exception(
            "dead letter of message %r could not be stored; headers=%r body=%r",
            letter.message_id,
            letter.headers,
            letter.body,
        )
    else:
        log.info("message %r kept as dead letter %d", letter.message_id, letter_id)


class GuardedConsumer(Consumer):
    """Celery's consumer, refusing every task message that no task could run."""

    # Set by Celery's consumer (not in its type stubs).
    connection_errors: tuple[type[BaseException], ...]
    task_consumer: Any

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        handle = super().create_task_handler(*args, **kwargs)
        tasks = self.app.tasks
        conf = self.app.conf
        max_time_limit = float(conf.task_time_limit or math.inf)
        connection_errors = tuple(self.connection_errors)

        def on_task_received(message: Any) -> Any:
            refusal = check_message(message.headers, lambda: message.payload, tasks, max_time_limit)
            if refusal is None:
                try:
                    return handle(message)
                except connection_errors:
                    raise
                except Exception as exc:
                    log.exception("the worker could not take a message")
                    refusal = Refusal(UNEXPECTED, f"{type(exc).__name__}: {exc}")
            self.dead_letter(message, refusal)
            return None

        return on_task_received

    # Celery's own refusals, reached only if a message slipped past the checks above: the
    # defaults log and drop (or, for an unknown task without an id, fail on the message).
    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self.dead_letter(message, Refusal(UNDECODABLE, f"{type(exc).__name__}: {exc}"))

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self.dead_letter(message, Refusal(BAD_HEADERS, "not a task message"))

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        self.dead_letter(message, Refusal(UNKNOWN_TASK, str(exc)))

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self.dead_letter(message, Refusal(BAD_HEADERS, str(exc)))

    def dead_letter(self, message: Any, refusal: Refusal) -> None:
        headers = message.headers
        keep(
            Letter(
                queue=self._queue_of(message),
                reason=refusal.reason,
                detail=refusal.detail,
                headers=headers,
                body=_body_bytes(message),
                message_id=_text_header(headers, "id"),
                task=_text_header(headers, "task"),
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                worker=str(self.hostname),
            )
        )
        if not message.acknowledged:
            message.reject_log_error(log, self.connection_errors, requeue=False)

    def _queue_of(self, message: Any) -> str:
        """The consumed queue the message came from: as the Redis transport says
        (``workers/transport.py``), else by its routing key or exchange, which our queues
        share their names with. Only served queues' names are used as labels."""
        served = {q.name for q in getattr(self.task_consumer, "queues", ()) or ()}
        info = message.delivery_info or {}
        for key in ("queue", "routing_key", "exchange"):
            if info.get(key) in served:
                return str(info[key])
        return OTHER_QUEUE
