"""Muting end to end: silences, maintenance windows, inhibition rules, the Silence 1h button,
and the silences CLI and HTTP API."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.session import session_scope
from alerting.pipeline.silences import create_silence, expire_silence, parse_spec
from tests.conftest import Stack
from tests.services import cli, wait_for
from tests.tasks.helpers import all_sent, details, key_headers, wait_details
from tests.tasks.test_interactions import _click


def _silence(tenant_id: str, *matchers: str, duration: str = "1h") -> str:
    spec = parse_spec(
        {"matchers": list(matchers), "duration": duration, "created_by": "test"}, where="test"
    )
    with session_scope() as session:
        return str(create_silence(session, tenant_id, spec, where="test").id)


def _fire(tenant_id: str, alert_type: str, severity: str = "error", **fields: Any) -> str:
    return str(
        send_alert.delay(
            tenant_id=tenant_id, alert_type=alert_type, severity=severity, message="m", **fields
        ).id
    )


def _muted(found: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in e["detail"].items() if k != "event_id"}
        for e in found["audit"]
        if e["action"] == "alert.silenced"
    ]


def _sent_channels(clean: Stack) -> set[str]:
    return {m["channel"] for m in clean.sandbox.messages()}


def test_silenced_alert_is_stored_and_audited_but_not_posted_nor_escalated(
    clean: Stack, beat: None
) -> None:
    clean.sandbox.configure(rate_limit=False)
    silence_id = _silence("tenant-a", "alertname=disk_*", "environment=staging")
    # Critical: tenant-a's policy would notify #a-dev after 1 s and #a-ops after 3 s.
    muted = _fire("tenant-a", "disk_full", "critical", environment="staging")
    heard = _fire("tenant-a", "disk_full", "critical", environment="prod")
    found = wait_details(muted, lambda d: _muted(d), what="the silenced audit entry")
    assert _muted(found) == [{"reason": "silence", "silence_id": silence_id, "kind": "firing"}]
    assert found["alert"]["status"] == "firing" and found["notifications"] == []
    wait_details(heard, lambda d: any(n["kind"] == "escalated" for n in d["notifications"]))
    time.sleep(4.0)
    found = details(muted)
    assert found is not None and found["notifications"] == []
    assert not [e for e in found["audit"] if e["action"].startswith("escalation.")]
    assert "#a-staging" not in _sent_channels(clean)
    # The prod alert went out and climbed: only the silenced one stayed quiet.
    assert {"#a-alerts", "#a-dev"} <= _sent_channels(clean)


def test_a_silence_that_ends_lets_the_next_repeat_announce_the_alert(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    silence_id = _silence("tenant-a", "alertname=flaky")
    first = _fire("tenant-a", "flaky")
    wait_details(first, lambda d: _muted(d))
    _fire("tenant-a", "flaky")  # a repeat while silenced: still nothing
    wait_details(first, lambda d: len(_muted(d)) == 2, what="the repeat muted too")
    assert clean.sandbox.messages("#a-alerts") == []
    done = subprocess.run(
        cli("silence", "expire", silence_id, "--tenant", "tenant-a", "--by", "bob"),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "expired" in done.stdout, done.stderr
    _fire("tenant-a", "flaky")
    found = wait_details(first, all_sent, what="the alert announced as firing")
    assert [(n["kind"], n["channel"]) for n in found["notifications"]] == [("firing", "#a-alerts")]
    (message,) = clean.sandbox.messages("#a-alerts")
    assert "flaky" in message["text"]
    assert found["alert"]["count"] == 3


def test_resolving_a_silenced_alert_still_closes_its_message(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = _fire("tenant-w", "api_errors", labels={"service": "api"})
    found = wait_details(event_id, all_sent)
    _silence("tenant-w", "service=api")
    _fire("tenant-w", "api_errors", labels={"service": "api"})
    wait_details(event_id, lambda d: _muted(d), what="the repeat muted")
    send_alert.delay(
        tenant_id="tenant-w",
        alert_type="api_errors",
        severity="error",
        message="m",
        labels={"service": "api"},
        status="resolved",
    )
    found = wait_details(
        event_id,
        lambda d: (
            d["alert"]["status"] == "resolved" and all_sent(d) and len(d["notifications"]) > 1
        ),
    )
    assert [n["kind"] for n in found["notifications"]] == ["firing", "resolved"]
    wait_for(
        lambda: "Resolved" in clean.sandbox.messages("#w-alerts")[0]["text"],
        what="the message closed in place",
    )


def test_a_silence_pauses_a_running_escalation_at_its_level(clean: Stack, beat: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    silence_id = _silence("tenant-a", "alertname=db_down")
    event_id = _fire("tenant-a", "db_down", "critical")
    wait_details(event_id, lambda d: _muted(d))
    SyncSlackAlertManager().setup_escalation(event_id, escalation_policy="fast")
    time.sleep(4.0)  # both levels are due by now
    found = details(event_id)
    assert found is not None and found["notifications"] == []
    with session_scope() as session:
        expire_silence(session, "tenant-a", silence_id, by="test")
    found = wait_details(
        event_id,
        lambda d: any(
            n["kind"] == "escalated" and n["state"] == "sent" for n in d["notifications"]
        ),
        timeout=20,
        what="the climb resumed",
    )
    # It resumed at level 1, with level 2 still its policy's two seconds later.
    assert [n["channel"] for n in found["notifications"]] == ["#a-dev"]


def test_maintenance_windows_mute_only_while_open(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    inside = _fire("tenant-a", "deploy_slow", environment="maint")
    outside = _fire("tenant-a", "deploy_slow", environment="later")
    found = wait_details(inside, lambda d: _muted(d))
    assert _muted(found) == [
        {"reason": "maintenance", "maintenance_window": "db-migration", "kind": "firing"}
    ]
    found = wait_details(outside, all_sent)
    assert _muted(found) == []


def test_a_down_cluster_mutes_its_own_nodes_warnings_only(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    cluster = _fire("tenant-a", "cluster_down", labels={"cluster": "eu-1"})
    cluster_alert = wait_details(cluster, all_sent)["alert"]["id"]
    same = _fire("tenant-a", "node_cpu", "warning", labels={"cluster": "eu-1", "node": "n1"})
    other = _fire("tenant-a", "node_cpu", "warning", labels={"cluster": "us-2", "node": "n1"})
    louder = _fire("tenant-a", "node_disk", "error", labels={"cluster": "eu-1", "node": "n1"})
    found = wait_details(same, lambda d: _muted(d))
    assert _muted(found) == [
        {"reason": "inhibition", "inhibited_by": cluster_alert, "kind": "firing"}
    ]
    assert _muted(wait_details(other, all_sent)) == []
    assert _muted(wait_details(louder, all_sent)) == []
    # Once the cluster is back, the node's next warning is heard.
    SyncSlackAlertManager().resolve(cluster, by="ops")
    _fire("tenant-a", "node_cpu", "warning", labels={"cluster": "eu-1", "node": "n1"})
    wait_details(same, all_sent, what="the node warning announced")


def _run(clean: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    # Wide enough that the table never wraps a cell.
    env = {**clean.env, "COLUMNS": "300"}
    return subprocess.run(cli("silence", *args), env=env, capture_output=True, text=True)


def test_silence_cli(clean: Stack) -> None:
    added = _run(
        clean,
        "add",
        "--tenant",
        "tenant-a",
        "--matcher",
        "alertname=disk_*",
        "--matcher",
        "environment=staging",
        "--duration",
        "2h",
        "--author",
        "alice",
        "--comment",
        "disk swap",
    )
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip()
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    pending = _run(
        clean, "add", "--tenant", "tenant-a", "--matcher", "team=db", "--start", later,
        "--duration", "1h", "--author", "bob", "--comment", "tomorrow",
    )  # fmt: skip
    assert pending.returncode == 0, pending.stderr
    listed = _run(clean, "list", "--tenant", "tenant-a")
    assert listed.returncode == 0, listed.stderr
    assert silence_id[:8] in listed.stdout and "disk swap" in listed.stdout
    assert "active" in listed.stdout and "pending" in listed.stdout
    assert _run(clean, "expire", silence_id, "--tenant", "tenant-b").returncode == 1
    assert _run(clean, "expire", silence_id, "--tenant", "tenant-a").returncode == 0
    assert "disk swap" not in _run(clean, "list", "--tenant", "tenant-a").stdout
    assert "expired" in _run(clean, "list", "--tenant", "tenant-a", "--all").stdout

    base = ["--author", "a", "--comment", "c"]
    cases = {
        "--matcher": ["add", "--tenant", "tenant-a", "--duration", "1h", *base],
        "bad regular expression": [
            "add", "--tenant", "tenant-a", "--matcher", "a=~(", "--duration", "1h", *base,
        ],
        "--end: must be after starts_at": [
            "add", "--tenant", "tenant-a", "--matcher", "a=b", "--start", later,
            "--end", datetime.now(UTC).isoformat(), *base,
        ],
        "--duration: must be more than 0": [
            "add", "--tenant", "tenant-a", "--matcher", "a=b", "--duration", "0", *base,
        ],
        "unknown tenant 'nope'": [
            "add", "--tenant", "nope", "--matcher", "a=b", "--duration", "1h", *base,
        ],
    }  # fmt: skip
    for expected, args in cases.items():
        done = _run(clean, *args)
        assert done.returncode == 2, (expected, done.stdout)
        assert expected in " ".join(done.stderr.split()), (expected, done.stderr)


def test_silences_http_api(web: TestClient, clean: Stack) -> None:
    a, b = key_headers("tenant-a"), key_headers("tenant-b")
    body = {"matchers": ["alertname=http_*"], "duration": "30m", "comment": "deploy"}
    created = web.post("/api/v1/silences", json=body, headers=a)
    assert created.status_code == 201, created.text
    silence = created.json()
    assert silence["state"] == "active" and silence["matchers"] == ['alert_type="http_*"']
    assert silence["created_by"].startswith("api-key:alk_")
    sid = silence["id"]
    assert web.get(f"/api/v1/silences/{sid}", headers=a).json()["comment"] == "deploy"
    assert [s["id"] for s in web.get("/api/v1/silences", headers=a).json()["silences"]] == [sid]
    # Another tenant sees nothing and cannot expire it.
    assert web.get("/api/v1/silences", headers=b).json()["silences"] == []
    assert web.get(f"/api/v1/silences/{sid}", headers=b).status_code == 404
    assert web.delete(f"/api/v1/silences/{sid}", headers=b).status_code == 404
    assert web.get("/api/v1/silences/not-an-id", headers=a).status_code == 404
    assert web.get("/api/v1/silences").status_code == 401
    # Alerts of tenant-b are not muted by tenant-a's silence.
    event_id = _fire("tenant-b", "http_5xx")
    assert _muted(wait_details(event_id, all_sent)) == []
    gone = web.delete(f"/api/v1/silences/{sid}", headers=a)
    assert gone.status_code == 200 and gone.json()["state"] == "expired"
    assert web.get("/api/v1/silences", headers=a).json()["silences"] == []
    assert len(web.get("/api/v1/silences?all=true", headers=a).json()["silences"]) == 1

    def problems(payload: Any) -> dict[str, str]:
        resp = web.post("/api/v1/silences", json=payload, headers=a)
        assert resp.status_code == 422, resp.text
        return {p["field"]: p["reason"] for p in resp.json()["problems"]}

    assert "matchers" in problems({"matchers": [], "duration": "1h"})
    assert (
        "bad regular expression" in problems({"matchers": ["x=~("], "duration": "1h"})["matchers.0"]
    )
    assert "more than 0" in problems({"matchers": ["x=y"], "duration": 0})["duration"]
    assert (
        "must be after"
        in problems(
            {
                "matchers": ["x=y"],
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
            }
        )["ends_at"]
    )
    assert problems({"matchers": ["x=y"], "duration": "1h", "colour": "red"}) == {
        "colour": "unknown field"
    }
    assert "(body)" in problems(["x=y"])


def test_silence_button_silences_the_alert_for_an_hour(web: TestClient, clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = _fire("tenant-w", "queue_lag", environment="prod", labels={"queue": "mail"})
    alert_id = wait_details(event_id, all_sent)["alert"]["id"]
    body, headers = _click(alert_id, "alert_silence_1h")
    resp = web.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json() == {}
    wait_for(
        lambda: "Silenced for 1 hour by @alice" in str(clean.sandbox.messages("#w-alerts")[0]),
        what="the message says it was silenced",
    )
    assert web.post("/slack/interactions", content=body, headers=headers).status_code == 409
    found = wait_details(alert_id, lambda d: True)
    (created,) = [e for e in found["audit"] if e["action"] == "silence.created"]
    assert created["actor"] == "@alice"
    assert created["detail"]["matchers"] == [
        'alert_type="queue_lag"',
        'environment="prod"',
        'queue="mail"',
    ]
    ends = datetime.fromisoformat(created["detail"]["ends_at"])
    assert timedelta(minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=1)
    # The next repeat is muted; the same alert type elsewhere is not.
    _fire("tenant-w", "queue_lag", environment="prod", labels={"queue": "mail"})
    found = wait_details(alert_id, lambda d: _muted(d))
    assert _muted(found)[0]["silence_id"] == created["detail"]["silence_id"]
    other = _fire("tenant-w", "queue_lag", environment="prod", labels={"queue": "sms"})
    assert _muted(wait_details(other, all_sent)) == []


def test_a_catastrophic_silence_regex_slows_no_one(clean: Stack) -> None:
    """``(a+)+`` against ``aaa…a!`` takes a backtracking engine 2**n steps: minutes per alert
    for 32 characters, in the workers that serve every tenant. Matching is linear here."""
    clean.sandbox.configure(rate_limit=False)
    _silence("tenant-a", "v=~(a+)+")
    hostile = [_fire("tenant-a", "regex", labels={"v": "a" * 32 + "!"}) for _ in range(2)]
    muted = _fire("tenant-a", "regex_muted", labels={"v": "a" * 32})
    other = _fire("tenant-b", "unrelated")
    # Generous: a backtracking engine would hold both worker processes for minutes.
    wait_details(other, all_sent, timeout=30, what="another tenant's alert delivered")
    for event_id in hostile:
        wait_details(event_id, all_sent, timeout=30, what="the unmatched alert delivered")
    found = wait_details(muted, lambda d: _muted(d), timeout=30, what="the matching alert muted")
    assert found["notifications"] == []
