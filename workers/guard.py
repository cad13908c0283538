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

import inspect
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery.utils.time import maybe_iso8601
from celery.worker.consumer import Consumer
from kombu.exceptions import ContentDisallowed

from alerting.db.dead_letters import Letter, store_dead_letter
from alerting.metrics import REJECTED_MESSAGES
from alerting.settings import get_settings

log = logging.getLogger(__name__)

#: Why a message was refused: the metric's ``reason`` label and the dead letter's.
UNDECODABLE = "undecodable"  # the body does not decode with its content type
DISALLOWED_CONTENT = "disallowed_content"  # a content type the workers do not accept
BAD_HEADERS = "bad_headers"  # headers missing or of the wrong type (task protocol 2)
UNKNOWN_TASK = "unknown_task"  # no task of that name in this worker
BAD_BODY = "bad_body"  # not ``[args, kwargs, embed]``
BAD_ARGUMENTS = "bad_arguments"  # arguments the task's signature does not take
UNEXPECTED = "unexpected"  # Celery failed on it anyway
#: The queue label of a message whose queue cannot be told (bounded label values).
OTHER_QUEUE = "other"

#: Headers Celery reads before the task runs that must be text when present.
_TEXT_HEADERS = (
    "root_id",
    "parent_id",
    "group",
    "shadow",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "lang",
    "meth",
)
_MAX_ID_CHARS = 255


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str


def _number_or_none(value: Any) -> bool:
    if value is None:
        return True
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def check_headers(headers: Any, tasks: Mapping[str, Any], max_time_limit: float) -> Refusal | None:
    """What is wrong with a task message's headers, if anything (task protocol 2 only)."""
    if not isinstance(headers, Mapping):
        return Refusal(BAD_HEADERS, "headers are not a mapping")
    task = headers.get("task")
    if not isinstance(task, str) or not task:
        return Refusal(BAD_HEADERS, "no 'task' header (only task protocol 2 is served)")
    message_id = headers.get("id")
    if not isinstance(message_id, str) or not 0 < len(message_id) <= _MAX_ID_CHARS:
        return Refusal(BAD_HEADERS, f"'id' header missing, or not text of 1 to {_MAX_ID_CHARS}")
    if task not in tasks:
        return Refusal(UNKNOWN_TASK, f"no task named {task!r}")
    timelimit = headers.get("timelimit")
    if timelimit is not None and not (
        isinstance(timelimit, list | tuple)
        and len(timelimit) == 2
        and all(_number_or_none(v) for v in timelimit)
        and all(v is None or v <= max_time_limit for v in timelimit)
    ):
        return Refusal(
            BAD_HEADERS,
            f"'timelimit' must be [hard, soft], each null or seconds up to {max_time_limit:g}",
        )
    for name in ("eta", "expires"):
        value = headers.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return Refusal(BAD_HEADERS, f"'{name}' must be an ISO 8601 time")
        try:
            maybe_iso8601(value)
        except (ValueError, TypeError, OverflowError, AttributeError):
            return Refusal(BAD_HEADERS, f"'{name}' must be an ISO 8601 time")
    retries = headers.get("retries")
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or retries < 0
    ):
        return Refusal(BAD_HEADERS, "'retries' must be a count")
    for name in _TEXT_HEADERS:
        if headers.get(name) is not None and not isinstance(headers[name], str):
            return Refusal(BAD_HEADERS, f"'{name}' must be text")
    if headers.get("ignore_result") is not None and not isinstance(headers["ignore_result"], bool):
        return Refusal(BAD_HEADERS, "'ignore_result' must be true or false")
    return None


def check_body(body: Any, task: Any) -> Refusal | None:
    """What is wrong with a decoded protocol 2 body for ``task``, if anything."""
    if not (
        isinstance(body, list | tuple)
        and len(body) == 3
        and isinstance(body[0], list | tuple)
        and isinstance(body[1], dict)
        and isinstance(body[2], dict | None)
    ):
        return Refusal(BAD_BODY, "the body must be [args, kwargs, embed]")
    args, kwargs, embed = body
    if not all(isinstance(k, str) for k in kwargs):
        return Refusal(BAD_BODY, "keyword argument names must be text")
    for name in ("callbacks", "errbacks", "chain"):
        if (embed or {}).get(name) is not None and not isinstance(embed[name], list):
            return Refusal(BAD_BODY, f"embed '{name}' must be a list")
    if (embed or {}).get("chord") is not None and not isinstance(embed["chord"], dict):
        return Refusal(BAD_BODY, "embed 'chord' must be a mapping")
    try:
        _signature(task).bind(*args, **kwargs)
    except TypeError as exc:
        return Refusal(BAD_ARGUMENTS, f"{task.name}: {exc}")
    return None


_signatures: dict[str, inspect.Signature] = {}


def _signature(task: Any) -> inspect.Signature:
    found = _signatures.get(task.name)
    if found is None:
        # ``run`` is bound for ``bind=True`` tasks: the signature is what a message passes.
        found = _signatures[task.name] = inspect.signature(task.run)
    return found


def check_message(
    headers: Any, decode: Callable[[], Any], tasks: Mapping[str, Any], max_time_limit: float
) -> Refusal | None:
    refusal = check_headers(headers, tasks, max_time_limit)
    if refusal is not None:
        return refusal
    try:
        body = decode()
    except ContentDisallowed as exc:
        return Refusal(DISALLOWED_CONTENT, str(exc))
    except Exception as exc:
        return Refusal(UNDECODABLE, f"{type(exc).__name__}: {exc}")
    return check_body(body, tasks[headers["task"]])


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
        queue = self._queue_of(message)
        message_id = _text_header(headers, "id")
        log.error(
            "message %s on queue %s refused (%s): %s",
            message_id,
            queue,
            refusal.reason,
            refusal.detail,
        )
        REJECTED_MESSAGES.labels(queue=queue, reason=refusal.reason).inc()
        letter = Letter(
            queue=queue,
            reason=refusal.reason,
            detail=refusal.detail,
            headers=headers,
            body=_body_bytes(message),
            message_id=message_id,
            task=_text_header(headers, "task"),
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            worker=str(self.hostname),
        )
        try:
            letter_id = store_dead_letter(get_settings().require_postgres_url(), letter)
        except Exception:
            # The log is then the only copy: keep all of it there.
            log.exception(
                "dead letter of message %s could not be stored; headers=%r body=%r",
                message_id,
                headers,
                letter.body,
            )
        else:
            log.info("message %s kept as dead letter %d", message_id, letter_id)
        if not message.acknowledged:
            message.reject_log_error(log, self.connection_errors, requeue=False)

    def _queue_of(self, message: Any) -> str:
        """The consumed queue the message came from: our queues are bound to an exchange
        and a routing key of their own name."""
        served = {q.name for q in getattr(self.task_consumer, "queues", ()) or ()}
        info = message.delivery_info or {}
        for key in ("routing_key", "exchange"):
            if info.get(key) in served:
                return str(info[key])
        return OTHER_QUEUE
