"""The worker's message checks: every message Celery itself sends passes, every malformed one
is refused with its reason (the end-to-end run is tests/tasks/test_poison.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from celery import Celery, Task
from kombu.exceptions import ContentDisallowed, DecodeError

from alerting.message_checks import check_message

LIMIT = 150.0
#: An app of its own, with tasks shaped like the worker's (``workers.app`` binds its broker URL
#: when imported, which a unit test must not do before the suite's services are up).
#: Its tasks are not shared: they must not join other apps of this process.
app = Celery("guard-test", set_as_current=False)


@app.task(name="alerting.ingest", bind=True, shared=False)
def ingest(self: Task[Any, Any], event: dict[str, Any]) -> None: ...


@app.task(name="alerting.route", shared=False)
def route(tenant_id: str, event_id: str) -> None: ...


@app.task(name="alerting.deliver", bind=True, shared=False)
def deliver(self: Task[Any, Any], tenant_id: str, notification_id: str) -> None: ...


@app.task(name="alerting.escalation_tick", shared=False)
def escalation_tick() -> None: ...


@app.task(name="alerting.interaction", shared=False)
def interaction(tenant_id: str, alert_id: str, action: str, by: str) -> None: ...


def _sent(name: str, kwargs: dict[str, Any], **options: Any) -> tuple[dict[str, Any], Any]:
    """Headers and body of the message Celery's own producer writes, after the JSON trip."""
    message = app.amqp.as_task_v2(str(uuid.uuid4()), name, kwargs=kwargs, **options)
    return json.loads(json.dumps(message.headers)), json.loads(json.dumps(message.body))


@pytest.mark.parametrize(
    ("name", "kwargs", "options"),
    [
        ("alerting.ingest", {"event": {"tenant_id": "t"}}, {}),
        ("alerting.route", {"tenant_id": "t", "event_id": "e"}, {}),
        ("alerting.deliver", {"tenant_id": "t", "notification_id": "n"}, {"countdown": 5}),
        ("alerting.deliver", {"tenant_id": "t", "notification_id": "n"}, {"retries": 3}),
        ("alerting.escalation_tick", {}, {"expires": 5.0}),
        ("alerting.interaction", {"tenant_id": "t", "alert_id": "a", "action": "x", "by": "b"}, {}),
        ("alerting.escalation_tick", {}, {"time_limit": 60, "soft_time_limit": 30}),
    ],
)
def test_what_celery_sends_passes(name: str, kwargs: dict[str, Any], options: Any) -> None:
    headers, body = _sent(name, kwargs, **options)
    assert check_message(headers, lambda: body, app.tasks, LIMIT) is None


def _raise(exc: Exception) -> Any:
    def decode() -> Any:
        raise exc

    return decode


def _headers(**changes: Any) -> dict[str, Any]:
    headers, _ = _sent("alerting.ingest", {"event": {}})
    headers.update(changes)
    return {k: v for k, v in headers.items() if v is not Ellipsis}


GOOD_BODY = [[], {"event": {}}, {}]


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        (_headers(), "x", "bad_body"),
        (_headers(), {"a": 1}, "bad_body"),
        (_headers(), [1, 2, 3, 4], "bad_body"),
        (_headers(), [[], [], {}], "bad_body"),
        (_headers(timelimit="zz"), GOOD_BODY, "bad_headers"),
        (_headers(timelimit=[1e9, None]), GOOD_BODY, "bad_headers"),
        (_headers(id=...), "x", "bad_headers"),
        (_headers(id=7), GOOD_BODY, "bad_headers"),
        (_headers(task=...), GOOD_BODY, "bad_headers"),
        (_headers(task=["alerting.ingest"]), GOOD_BODY, "bad_headers"),
        ("not a mapping", GOOD_BODY, "bad_headers"),
        (None, GOOD_BODY, "bad_headers"),
        (_headers(eta="soon"), GOOD_BODY, "bad_headers"),
        (_headers(expires=12), GOOD_BODY, "bad_headers"),
        (_headers(retries="2"), GOOD_BODY, "bad_headers"),
        (_headers(argsrepr=[1]), GOOD_BODY, "bad_headers"),
        (_headers(task="alerting.nope"), GOOD_BODY, "unknown_task"),
        (_headers(), [[], {"a": 1}, {}], "bad_arguments"),
        (_headers(), [[1, 2], {}, {}], "bad_arguments"),
        (_headers(), [[], {"event": {}}, {"callbacks": "x"}], "bad_body"),
        (_headers(), _raise(DecodeError("bad json")), "undecodable"),
        (_headers(), _raise(ContentDisallowed("pickle")), "disallowed_content"),
    ],
)
def test_malformed_messages_are_refused_with_their_reason(
    headers: Any, body: Any, reason: str
) -> None:
    decode = body if callable(body) else (lambda: body)
    refusal = check_message(headers, decode, app.tasks, LIMIT)
    assert refusal is not None and refusal.reason == reason, refusal
