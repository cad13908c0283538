"""Hostile but honest input at every edge: a clear refusal naming the field, or the alert
stored and told. Never accepted and then lost, never a server error."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from alerting.db.session import session_scope
from alerting.domain.errors import InvalidInput
from alerting.producer import send_alert
from tests.conftest import Stack
from tests.services import cli, wait_for
from tests.tasks.helpers import details, key_headers, wait_details

#: Characters that broke storage or display before: NUL, lone surrogates, escape sequences,
#: bell, C1 controls, newlines; and harmless ones that must still pass (accents, astral
#: characters, Slack and rich markup).
HOSTILE = [
    "\x00",
    "\ud800",
    "\udfff",
    "\x1b[31m",
    "\x07",
    "\x85",
    "\n",
    "\t",
    "é",
    "\U0001d518",  # an astral character
    "<!here>",
    "[/]",
    "|",
]
EXAMPLES_PER_EDGE = 25

hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)), min_size=1, max_size=5
).map("".join)
#: Text of any script, symbols and punctuation included; no control characters.
clean_text = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=12
).filter(str.strip)
FIELDS = ("message", "label", "label_key", "annotation", "source", "key_suffix", "occurred_at")


def _time(offset: float | str | None) -> str | None:
    if offset == "max":
        return "9999-12-31T23:59:59Z"
    if offset == "min":
        return "0001-01-01T00:00:00+01:00"
    if offset is None:
        return None
    return (datetime.now(UTC) + timedelta(seconds=float(offset))).isoformat()


@st.composite
def fuzzed_fields(draw: st.DrawFn) -> dict[str, Any]:
    """One field (or none) hostile, the others ordinary, so that both outcomes happen."""
    hostile = draw(st.sampled_from((None, *FIELDS)))
    fields: dict[str, Any] = {}
    for name in FIELDS:
        bad = name == hostile
        if name == "label_key":
            keys = ["te\x00am", "t\ud800", "x" * 200, "a\nb"] if bad else ["team", "owner"]
            fields[name] = draw(st.sampled_from(keys))
        elif name == "occurred_at":
            offsets: list[float | str | None] = (
                [3600.0, 10 * 365 * 86400.0, -40 * 365 * 86400.0, "max", "min"]
                if bad
                else [None, -60.0, 60.0]
            )
            fields[name] = _time(draw(st.sampled_from(offsets)))
        else:
            fields[name] = draw(hostile_text if bad else clean_text)
    return fields


#: What an edge did: ("refused", problems) or ("accepted", event ids).
Outcome = tuple[str, Any]


def via_producer(fields: dict[str, Any]) -> Outcome:
    event: dict[str, Any] = {
        "tenant_id": "tenant-a",
        "alert_type": "fuzz",
        "severity": "info",
        "message": fields["message"],
        "labels": {"case": str(uuid.uuid4()), fields["label_key"]: fields["label"]},
        "annotations": {"note": fields["annotation"]},
        "source": fields["source"],
        "idempotency_key": f"{uuid.uuid4()}{fields['key_suffix']}",
    }
    if fields["occurred_at"]:
        event["occurred_at"] = fields["occurred_at"]
    try:
        return "accepted", [send_alert.delay(**event).id]
    except InvalidInput as exc:
        return "refused", exc.problems


def via_http(web: TestClient, headers: dict[str, str]) -> Callable[[dict[str, Any]], Outcome]:
    def post(fields: dict[str, Any]) -> Outcome:
        body: dict[str, Any] = {
            "alert_type": "fuzz",
            "severity": "info",
            "message": fields["message"],
            "labels": {"case": str(uuid.uuid4()), fields["label_key"]: fields["label"]},
            "annotations": {"note": fields["annotation"]},
            "source": fields["source"],
            "idempotency_key": f"{uuid.uuid4()}{fields['key_suffix']}",
        }
        if fields["occurred_at"]:
            body["occurred_at"] = fields["occurred_at"]
        return _answer(post_json(web, "/api/v1/alerts", headers, body), "id")

    return post


def via_alertmanager(
    web: TestClient, headers: dict[str, str]
) -> Callable[[dict[str, Any]], Outcome]:
    def post(fields: dict[str, Any]) -> Outcome:
        alert = {
            "status": "firing",
            "labels": {
                "alertname": "Fuzz",
                "severity": "info",
                "case": str(uuid.uuid4()),
                fields["label_key"]: fields["label"],
            },
            "annotations": {"summary": fields["message"], "note": fields["annotation"]},
            "startsAt": fields["occurred_at"] or datetime.now(UTC).isoformat(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": f"http://prometheus/graph?g0.expr={fields['source']}",
            "fingerprint": uuid.uuid4().hex[:16],
        }
        payload = {
            "version": "4",
            "groupKey": "{}:{}",
            "status": "firing",
            "receiver": "slack-alerting",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager",
            "alerts": [alert],
        }
        url = "/api/v1/integrations/alertmanager/tenant-a"
        return _answer(post_json(web, url, headers, payload), "events")

    return post


def post_json(web: TestClient, url: str, headers: dict[str, str], body: Any) -> Any:
    """As a JSON client sends it: lone surrogates as ``\\ud800`` escapes (valid JSON)."""
    return web.post(
        url,
        headers={**headers, "Content-Type": "application/json"},
        content=json.dumps(body).encode(),
    )


def _answer(resp: Any, key: str) -> Outcome:
    assert resp.status_code in (202, 422), resp.text
    body = resp.json()
    if resp.status_code == 422:
        return "refused", [(p["field"], p["reason"]) for p in body["problems"]]
    ids = body[key]
    return "accepted", ids if isinstance(ids, list) else [ids]


def _fuzz(
    name: str,
    edge: Callable[[dict[str, Any]], Outcome],
    accepted: list[tuple[str, str]],
    refused: list[tuple[str, list[tuple[str, str]]]],
) -> None:
    @given(fields=fuzzed_fields())
    @settings(
        max_examples=EXAMPLES_PER_EDGE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(fields: dict[str, Any]) -> None:
        outcome, detail = edge(fields)
        if outcome == "refused":
            assert detail, "a refusal names at least one problem"
            for field, reason in detail:
                assert field.split(".")[0] in KNOWN_FIELDS, (field, reason)
                assert reason.strip(), field
                (field + reason).encode("utf-8")
            refused.append((name, detail))
        else:
            accepted.extend((name, event_id) for event_id in detail)

    run()


#: Fields a refusal may name (the first part of its path).
KNOWN_FIELDS = {
    "message",
    "labels",
    "annotations",
    "source",
    "idempotency_key",
    "occurred_at",
    "alerts",
}


def test_every_edge_refuses_clearly_or_stores_and_tells(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    edges = {
        "producer": via_producer,
        "http": via_http(web, headers),
        "alertmanager": via_alertmanager(web, headers),
    }
    accepted: list[tuple[str, str]] = []
    refused: list[tuple[str, list[tuple[str, str]]]] = []
    for name, edge in edges.items():
        _fuzz(name, edge, accepted, refused)

    assert refused and accepted, (len(refused), len(accepted))
    # Every accepted event is stored, and its alert routed to Slack (a notification for it).
    for edge_name, event_id in accepted:
        found = wait_details(
            event_id,
            lambda d: bool(d["notifications"]),
            timeout=60,
            what=f"the event {event_id} accepted by {edge_name} to be stored and routed",
        )
        assert found["alert"]["alert_type"] in ("fuzz", "Fuzz")
    with session_scope() as session:
        stuck = session.scalar(text("SELECT count(*) FROM alert_events WHERE action = 'received'"))
    assert stuck == 0


def test_silences_refuse_unstorable_text_and_far_times_with_422(web: TestClient) -> None:
    headers = key_headers("tenant-a")
    good = {"matchers": ["team=db"], "duration": "1h", "comment": "deploy"}
    cases = [
        ({"comment": "a\x00"}, "comment"),
        ({"comment": "a\ud800"}, "comment"),
        ({"created_by": "me\x00"}, "created_by"),
        ({"created_by": "\udfffme"}, "created_by"),
        ({"matchers": ["team=\x00"]}, "matchers"),
        ({"matchers": ["team=\ud800"]}, "matchers"),
        ({"starts_at": "9999-12-31T23:59:59Z"}, "starts_at"),
        ({"ends_at": "9999-12-31T23:59:59Z", "duration": None}, "ends_at"),
    ]
    for change, field in cases:
        body = {k: v for k, v in {**good, **change}.items() if v is not None}
        resp = post_json(web, "/api/v1/silences", headers, body)
        assert resp.status_code == 422, (change, resp.text)
        fields = {p["field"] for p in resp.json()["problems"]}
        assert field in fields, (change, resp.json())
    assert web.get("/api/v1/silences", headers=headers).json()["silences"] == []


def test_ack_and_resolve_refuse_an_unstorable_by(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    posted = web.post(
        "/api/v1/alerts",
        headers=headers,
        json={"alert_type": "by_check", "severity": "info", "message": "m"},
    )
    alert_id = wait_details(posted.json()["id"], lambda d: True)["alert"]["id"]
    for action in ("ack", "resolve"):
        for by in ("ops\x00", "\ud800ops", "ops\x1b[2J"):
            resp = post_json(web, f"/api/v1/alerts/{alert_id}/{action}", headers, {"by": by})
            assert resp.status_code == 422, resp.text
            assert [p["field"] for p in resp.json()["problems"]] == ["by"], resp.json()
    found = details(alert_id)
    assert found is not None and found["alert"]["status"] == "firing"
    ok = web.post(f"/api/v1/alerts/{alert_id}/ack", headers=headers, json={"by": "ops"})
    assert ok.status_code == 200 and ok.json()["status"] == "acknowledged"


def test_a_future_time_cannot_freeze_an_alert(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    far = web.post(
        "/api/v1/alerts",
        headers=headers,
        json={
            "alert_type": "frozen",
            "severity": "info",
            "message": "first",
            "occurred_at": "9999-12-31T00:00:00Z",
        },
    )
    assert far.status_code == 422 and far.json()["problems"][0]["field"] == "occurred_at"

    def post(message: str) -> str:
        resp = web.post(
            "/api/v1/alerts",
            headers=headers,
            json={"alert_type": "frozen", "severity": "info", "message": message},
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["id"])

    first = wait_details(post("first"), lambda d: True)
    # As stored before times were bounded at the edges (or by a producer with a broken clock
    # that bypassed them): the alert's last event lies far in the future.
    with session_scope() as session:
        session.execute(
            text("UPDATE alerts SET last_seen_at = '9999-12-31' WHERE id = :id"),
            {"id": first["alert"]["id"]},
        )
    post("second")
    found = wait_details(
        first["alert"]["id"], lambda d: d["alert"]["count"] == 2, what="the repeat"
    )
    assert found["alert"]["message"] == "second"
    assert not found["alert"]["last_seen_at"].startswith("9999")
    post("third")
    found = wait_details(first["alert"]["id"], lambda d: d["alert"]["count"] == 3)
    assert found["alert"]["message"] == "third"


def test_an_annotation_url_cannot_mention_the_channel(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    resp = web.post(
        "/api/v1/alerts",
        headers=headers,
        json={
            "alert_type": "link",
            "severity": "info",
            "message": "m",
            "annotations": {"runbook_url": "https://runbooks/x?<!here>|y"},
        },
    )
    assert resp.status_code == 202
    wait_for(lambda: clean.sandbox.messages("#a-alerts"), what="the message")
    (message,) = clean.sandbox.messages("#a-alerts")
    blocks = str(message["blocks"])
    assert "<https://runbooks/x?&lt;!here&gt;%7Cy|Runbook>" in blocks
    assert "<!here" not in blocks


def test_the_cli_refuses_escape_sequences_and_future_times(clean: Stack) -> None:
    base = ["send", "--tenant", "tenant-a", "--type", "cli_check", "--severity", "info"]
    for extra, field in (
        (["--message", "\x1b[2Jwiped"], "message"),
        (["--message", "m", "--label", "team=\x1b]0;title\x07"], "labels"),
    ):
        done = subprocess.run(cli(*base, *extra), env=clean.env, capture_output=True, text=True)
        assert done.returncode == 2, done.stdout
        assert f"{field}: " in done.stderr and "control character" in done.stderr, done.stderr
        assert "\x1b" not in done.stderr
    with session_scope() as session:
        assert session.scalar(text("SELECT count(*) FROM alert_events")) == 0
