"""No message can stop a worker: whatever anyone holding the broker URL publishes, the worker
refuses it once, keeps it as a dead letter and goes on serving alerts."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from kombu import Connection

from alerting import send_alert
from tests.conftest import Stack
from tests.services import cli, wait_for
from tests.tasks.helpers import all_sent, wait_details

#: The queues a worker serving every tenant consumes, and a task each one carries.
QUEUES = {
    "alerts.ingest": "alerting.ingest",
    "alerts.t.tenant-a": "alerting.route",
    "alerts.maintenance": "alerting.escalation_tick",
}


def _poison(task: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(what it is, body, publish options): every message the hostile tester sent, and more."""

    def headers(**extra: Any) -> dict[str, Any]:
        return {"task": task, "id": str(uuid.uuid4()), **extra}

    return [
        ("a string body", {"body": "x"}, {"headers": headers()}),
        ("a mapping body", {"body": {"a": 1}}, {"headers": headers()}),
        ("a 4-item list", {"body": [1, 2, 3, 4]}, {"headers": headers()}),
        ("timelimit 'zz'", {"body": [[], {}, {}]}, {"headers": headers(timelimit="zz")}),
        ("no id header", {"body": "x"}, {"headers": {"task": task}}),
        ("no headers at all", {"body": [[], {}, {}]}, {"headers": {}}),
        ("a list as task name", {"body": [[], {}, {}]}, {"headers": headers(task=[task])}),
        ("an unknown task", {"body": [[], {}, {}]}, {"headers": headers(task="alerting.nope")}),
        ("arguments it does not take", {"body": [[], {"a": 1}, {}]}, {"headers": headers()}),
        ("a bad eta", {"body": [[], {}, {}]}, {"headers": headers(eta="soon")}),
        (
            "an undecodable body",
            {"body": b"\xff{not json", "content_type": "application/json"},
            {"headers": headers(), "content_encoding": "binary"},
        ),
    ]


def _publish(redis_url: str, queue: str, body: dict[str, Any], options: dict[str, Any]) -> None:
    """Straight into ``queue`` (the default exchange), as any holder of the broker URL can."""
    with Connection(redis_url) as conn:
        producer = conn.Producer(routing_key=queue)
        if "content_type" in body:
            producer.publish(body["body"], content_type=body["content_type"], **options)
        else:
            producer.publish(body["body"], serializer="json", **options)


def _dead_letters(*args: str) -> str:
    done = subprocess.run(cli("dead-letters", *args), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_no_message_stops_a_worker(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    _dead_letters("purge", "--all", "--yes")
    published = 0
    for queue, task in QUEUES.items():
        for _what, body, options in _poison(task):
            _publish(clean.redis_url, queue, body, options)
            published += 1
        # The next valid alert still reaches Slack (generous wait: the stack is shared).
        event_id = send_alert.delay(
            tenant_id="tenant-a", alert_type="after_poison", severity="error", message=queue
        ).id
        wait_details(event_id, all_sent, timeout=30, what=f"an alert after poison on {queue}")
        assert clean.worker.proc is not None and clean.worker.proc.poll() is None

    def listed() -> list[dict[str, Any]] | None:
        letters: list[dict[str, Any]] = json.loads(
            _dead_letters("list", "--json", "--limit", "500")
        )
        return letters if len(letters) >= published else None

    letters = wait_for(listed, timeout=30, what="every poison message kept as a dead letter")
    # Each refused once, not again and again.
    assert len(letters) == published, [(d["queue"], d["reason"], d["detail"]) for d in letters]
    assert {(d["queue"], d["reason"]) for d in letters} >= {
        (queue, reason)
        for queue in QUEUES
        for reason in (
            "bad_body",
            "bad_headers",
            "unknown_task",
            "bad_arguments",
            "undecodable",
        )
    }
    # Nothing is left waiting for a redelivery.
    with Connection(clean.redis_url) as conn:
        for queue in QUEUES:
            assert conn.default_channel.client.llen(queue) == 0

    # The operator reads one, literally, and purges them.
    zz = next(d for d in letters if '"zz"' in d["headers"])
    assert f"message '{zz['message_id']}' on queue {zz['queue']} refused" in clean.worker.log_text()
    shown = _dead_letters("show", str(zz["id"]))
    assert "timelimit" in shown and "bad_headers" in shown and zz["queue"] in shown
    table = _dead_letters("list", "--queue", "alerts.maintenance")
    assert "alerts.maintenance" in table and "alerts.ingest" not in table
    assert _dead_letters("purge", str(zz["id"]), "--yes").strip() == "1 dead letters deleted"
    assert "no dead letters" not in _dead_letters("list")
    _dead_letters("purge", "--all", "--yes")
    assert _dead_letters("list").strip() == "no dead letters"


def test_a_dead_letter_is_shown_literally_and_inert(clean: Stack) -> None:
    _dead_letters("purge", "--all", "--yes")
    body = {"body": b"[red]x[/] \x1b[2J\x1b]0;owned\x07", "content_type": "text/plain"}
    headers = {"task": "alerting.ingest", "id": "[bold]\x1b[31m"}
    _publish(clean.redis_url, "alerts.ingest", body, {"headers": headers})

    def letter() -> dict[str, Any] | None:
        letters = json.loads(_dead_letters("list", "--json"))
        return letters[0] if letters else None

    found = wait_for(letter, timeout=30, what="the dead letter")
    assert found["reason"] == "disallowed_content"
    for output in (_dead_letters("show", str(found["id"])), _dead_letters("list")):
        assert "\x1b" not in output and "\x07" not in output
        assert "[bold]\\x1b[31m" in output
    assert "[red]x[/] \\x1b[2J\\x1b]0;owned\\x07" in _dead_letters("show", str(found["id"]))


def test_every_task_runs_under_soft_and_hard_time_limits(clean: Stack) -> None:
    """What ``celery inspect stats`` shows an operator: the pool's limits, for every task."""
    from workers.app import app

    with app.connection_for_write(clean.redis_url) as conn:
        stats = app.control.inspect(timeout=5, connection=conn).stats()
    assert stats, "no worker answered"
    for node in stats.values():
        assert node["pool"]["timeouts"] == [120.0, 150.0]
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if name.startswith("alerting.")}
    assert set(QUEUES.values()) <= set(ours)
    for name, task in ours.items():
        # No task lifts the limits for itself.
        assert (task.time_limit or 150.0) <= 150.0, name
        assert (task.soft_time_limit or 120.0) <= 120.0, name


def test_refusals_are_counted_by_queue_and_reason(clean: Stack) -> None:
    """The counter of a worker's own process: a worker run in this one, on a queue of its own."""
    from celery.contrib.testing.worker import start_worker
    from prometheus_client import REGISTRY

    from workers.app import app

    queue = "alerts.t.guard-probe"
    metric = "alerting_rejected_messages_total"

    def counted(reason: str) -> float:
        return REGISTRY.get_sample_value(metric, {"queue": queue, "reason": reason}) or 0.0

    before = {reason: counted(reason) for reason in ("bad_body", "bad_headers")}
    with start_worker(app, perform_ping_check=False, queues=[queue], loglevel="WARNING"):
        for _what, body, options in _poison("alerting.route")[:5]:
            _publish(clean.redis_url, queue, body, options)
        wait_for(
            lambda: counted("bad_headers") - before["bad_headers"] == 2,
            timeout=30,
            what="the refusals counted",
        )
    assert counted("bad_body") - before["bad_body"] == 3


def test_what_is_not_even_a_kombu_message_stops_no_worker(clean: Stack) -> None:
    """Anything pushed straight onto a queue's Redis list."""
    import redis

    clean.sandbox.configure(rate_limit=False)
    _dead_letters("purge", "--all", "--yes")
    envelope = {
        "body": "eA==",
        "content-type": "application/json",
        "properties": {
            "body_encoding": "base64",
            "delivery_tag": "t1",
            "delivery_info": {"exchange": "", "routing_key": "alerts.ingest"},
        },
    }
    items = [
        b"garbage",
        b"\xff\xfe",
        b'{"a": 1}',
        b"[1, 2]",
        json.dumps({**envelope, "headers": 5}).encode(),
        json.dumps({**envelope, "body": "not base64!"}).encode(),
        json.dumps({**envelope, "properties": {"delivery_tag": "t2"}}).encode(),
    ]
    broker = redis.Redis.from_url(clean.redis_url)
    for item in items:
        broker.lpush("alerts.ingest", item)
    # A well-formed envelope whose routing key names another queue than the list it is on.
    misleading = {
        **envelope,
        "body": "Ingi",  # base64 of '"x"'
        "headers": {"task": "alerting.escalation_tick", "id": "m1"},
    }
    broker.lpush("alerts.maintenance", json.dumps(misleading).encode())
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="after_raw", severity="error", message="m"
    ).id
    wait_details(event_id, all_sent, timeout=30, what="an alert after raw items")
    assert clean.worker.proc is not None and clean.worker.proc.poll() is None
    # The envelopes are kept; what was not even JSON is only logged and counted.

    def kept() -> list[dict[str, Any]] | None:
        letters: list[dict[str, Any]] = json.loads(_dead_letters("list", "--json"))
        return letters if len(letters) >= 6 else None

    letters = wait_for(kept, timeout=30, what="the envelopes kept")
    assert sorted((d["queue"], d["reason"]) for d in letters) == [
        ("alerts.ingest", "undecodable"),
    ] * 5 + [("alerts.maintenance", "bad_body")]
