"""What a task message must look like before a worker builds a request from it.

Pure checks of Celery's task protocol 2 (headers, decoded body, arguments against the task's
signature), used by the worker's consumer (``workers/guard.py``). Anyone holding the broker
URL can publish, so nothing here trusts a header's presence or type.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celery.utils.time import maybe_iso8601
from kombu.exceptions import ContentDisallowed

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
