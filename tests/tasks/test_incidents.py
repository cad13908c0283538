"""Correlation end to end: a cascade becomes one incident with one Slack message, explained;
users merge and split; the CLI and HTTP API show it, to its tenant only."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from alerting import send_alert
from tests.conftest import Stack
from tests.services import cli, wait_for
from tests.tasks.helpers import details, key_headers

T0 = datetime.now(UTC) - timedelta(minutes=2)
LIST_KEYS = {
    "id",
    "title",
    "status",
    "severity",
    "root_cause",
    "alert_ids",
    "created_at",
    "updated_at",
}


def _fire(
    service: str,
    alert_type: str,
    message: str,
    seconds: float,
    severity: str = "error",
    instance: str = "0",
    tenant_id: str = "tenant-c",
) -> str:
    event_id = str(
        send_alert.delay(
            tenant_id=tenant_id,
            alert_type=alert_type,
            severity=severity,
            message=message,
            labels={"service": service, "cluster": "eu-1", "instance": instance},
            occurred_at=T0 + timedelta(seconds=seconds),
        ).id
    )
    found = wait_for(lambda: details(event_id), what="the alert stored")
    return str(found["alert"]["id"])


def _incidents(*args: str, tenant_id: str = "tenant-c") -> list[dict[str, Any]]:
    done = subprocess.run(
        cli("incidents", "list", "--tenant", tenant_id, "--json", *args),
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def _members_placed(count: int, tenant_id: str = "tenant-c") -> list[dict[str, Any]]:
    def placed() -> list[dict[str, Any]] | None:
        rows = _incidents(tenant_id=tenant_id)
        return rows if sum(len(r["alert_ids"]) for r in rows) == count else None

    return wait_for(placed, timeout=20, what=f"{count} alerts placed in incidents")


def _show(incident_id: str) -> dict[str, Any]:
    done = subprocess.run(
        cli("incidents", "show", incident_id, "--json"), capture_output=True, text=True, check=True
    )
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def _cascade() -> list[str]:
    fired: list[str] = []
    # Each placed before the next (they are seconds apart), so the reasons are predictable.
    for service, alert_type, message, seconds, severity, instance in (
        ("orders-db", "db_connections_exhausted", "pool 100/100 used on db-3", 0, "error", "0"),
        ("payments", "high_error_rate", "5xx rate 12% on payments-7f9c for 2m", 40, "error", "0"),
        ("checkout", "high_latency", "p99 2300ms on checkout-2", 75, "critical", "0"),
        ("payments", "high_error_rate", "5xx rate 31% on payments-1a2b for 3m", 90, "error", "1"),
    ):
        fired.append(_fire(service, alert_type, message, seconds, severity, instance))
        _members_placed(len(fired))
    return fired


def test_a_cascade_is_one_incident_with_its_root_cause_and_one_slack_message(
    clean: Stack, flusher: None
) -> None:
    clean.sandbox.configure(rate_limit=False)
    alert_ids = _cascade()
    # Another failure, far from the topology and unlike the cascade's alerts.
    lone = _fire("search", "certificate_expiry", "certificate for search.example expires", 60)
    rows = _members_placed(5)
    assert all(set(r) == LIST_KEYS for r in rows)
    (cascade,) = [r for r in rows if set(r["alert_ids"]) == set(alert_ids)]
    (other,) = [r for r in rows if r["alert_ids"] == [lone]]
    assert cascade["root_cause"] == "orders-db"
    assert cascade["severity"] == "critical" and cascade["status"] == "firing"
    assert other["id"] != cascade["id"]
    reasons = {m["alert_id"]: m["reason"] for m in _show(cascade["id"])["members"]}
    assert "payments depends on orders-db" in reasons[alert_ids[1]]
    assert "checkout depends on payments" in reasons[alert_ids[2]]
    assert "same template as 1 member" in reasons[alert_ids[3]], "digits and hosts masked"

    # Slack: one message per incident (updated in place), none per alert.
    def tops() -> list[dict[str, Any]]:
        return [m for m in clean.sandbox.messages("#c-alerts") if m["thread_ts"] in (None, m["ts"])]

    wait_for(lambda: len(tops()) == 2, timeout=20, what="one message per incident")
    wait_for(
        lambda: any("4 alerts firing" in m["text"] for m in tops()),
        timeout=20,
        what=f"the cascade message counting its four alerts: {[m['text'] for m in tops()]}",
    )
    text = next(m["text"] for m in tops() if "4 alerts firing" in m["text"])
    assert "root cause=orders-db" in text
    assert len(tops()) == 2


def test_incident_ack_acts_on_members_and_status_follows(clean: Stack, flusher: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    alert_ids = _cascade()
    (incident,) = _members_placed(4)
    done = subprocess.run(
        cli("incidents", "ack", incident["id"], "--by", "dana"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for alert_id in alert_ids:
        wait_for(
            lambda a=alert_id: (d := details(a)) and d["alert"]["status"] == "acknowledged",
            what="member acknowledged",
        )
    wait_for(lambda: _incidents("--status", "acknowledged"), what="the incident acknowledged")
    assert _incidents("--status", "firing") == []


def test_split_alerts_never_rejoin_and_the_correction_is_remembered(
    clean: Stack, flusher: None, web: TestClient
) -> None:
    alert_ids = _cascade()
    (incident,) = _members_placed(4)
    checkout = alert_ids[2]
    headers = key_headers("tenant-c")
    answer = web.post(
        f"/api/v1/incidents/{incident['id']}/split", json={"alert_ids": [checkout]}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    split = answer.json()
    assert split["alert_ids"] == [checkout]
    # A repeat of the split alert stays where the user put it.
    _fire("checkout", "high_latency", "p99 2500ms on checkout-2", 100, "critical")
    # A new alert like the split one does not join the incident it was split from.
    late = _fire(
        "checkout", "high_latency", "p99 2600ms on checkout-5", 110, "critical", instance="5"
    )
    _members_placed(5)
    original = web.get(f"/api/v1/incidents/{incident['id']}", headers=headers).json()
    assert checkout not in original["alert_ids"] and late not in original["alert_ids"]
    trail = subprocess.run(
        cli("alerts", "show", checkout, "--json"), capture_output=True, text=True, check=True
    )
    actions = [e["action"] for e in json.loads(trail.stdout)["audit"]]
    assert "incident.joined" in actions
    (correction,) = _show(incident["id"])["corrections"]
    assert correction["action"] == "incident.split"
    assert correction["actor"].startswith("api-key:")
    assert correction["detail"]["alert_ids"] == [checkout]

    # Merge back over HTTP; the merged incident is no longer listed.
    merged = web.post(
        f"/api/v1/incidents/{incident['id']}/merge",
        json={"incident_id": split["id"]},
        headers=headers,
    )
    assert merged.status_code == 200, merged.text
    assert checkout in merged.json()["alert_ids"]
    listed = web.get("/api/v1/incidents", headers=headers).json()["incidents"]
    assert split["id"] not in {i["id"] for i in listed}


def test_another_tenants_incident_is_not_found(clean: Stack, web: TestClient) -> None:
    _cascade()
    (incident,) = _members_placed(4)
    foreign = key_headers("tenant-a")
    assert web.get(f"/api/v1/incidents/{incident['id']}", headers=foreign).status_code == 404
    assert web.get("/api/v1/incidents", headers=foreign).json() == {"incidents": []}
    answer = web.post(
        f"/api/v1/incidents/{incident['id']}/split",
        json={"alert_ids": incident["alert_ids"][:1]},
        headers=foreign,
    )
    assert answer.status_code == 404
    bad = web.post(
        f"/api/v1/incidents/{incident['id']}/split",
        json={"alert_ids": "nope"},
        headers=key_headers("tenant-c"),
    )
    assert bad.status_code == 422 and "alert_ids" in bad.text


def test_correlation_survives_a_worker_restart(clean: Stack) -> None:
    from tests.conftest import _wait_worker

    first = _fire("orders-db", "db_connections_exhausted", "pool 100/100 used on db-3", 0)
    _members_placed(1)
    clean.worker.stop()
    clean.worker.start()
    _wait_worker(clean.redis_url)
    second = _fire("payments", "high_error_rate", "5xx rate 12% on payments-7f9c for 2m", 40)
    rows = _members_placed(2)
    assert [r["alert_ids"] for r in rows] == [[first, second]], _show(rows[0]["id"])


def test_cli_corrections_fail_with_one_line_naming_the_problem(clean: Stack) -> None:
    alert_ids = _cascade()
    (incident,) = _members_placed(4)
    unknown = "00000000-0000-0000-0000-00000000abcd"
    cases = [
        (("incidents", "show", unknown), 1, "no incident"),
        (("incidents", "split", incident["id"], "--alerts", unknown), 2, "alerts: alert"),
        (("incidents", "split", incident["id"], "--alerts", ",".join(alert_ids)), 2, "empty"),
        (("incidents", "merge", incident["id"], incident["id"]), 2, "same incident"),
        (("incidents", "list", "--tenant", "no-such-tenant"), 2, "no-such-tenant"),
    ]
    for args, code, words in cases:
        done = subprocess.run(cli(*args), capture_output=True, text=True)
        assert done.returncode == code, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    # Nothing changed: the incident still holds its four alerts.
    assert [len(i["alert_ids"]) for i in _incidents()] == [4]


def test_webhooks_hear_of_an_incident_when_it_opens_and_when_it_changes_materially(
    clean: Stack, flusher: None
) -> None:
    clean.sandbox.configure(rate_limit=False)

    def fire(service: str, message: str, seconds: float, instance: str) -> None:
        _fire(service, "pool_exhausted", message, seconds, "error", instance, "tenant-d")

    fire("orders-db", "pool 100/100 used on db-3", 0, "0")
    _members_placed(1, "tenant-d")
    wait_for(lambda: clean.sandbox.messages("#d-alerts"), what="the incident's first message")
    # Another alert of the same failing service: counted, not told on its own.
    fire("orders-db", "pool 100/100 used on db-4", 20, "1")
    _members_placed(2, "tenant-d")
    time.sleep(3)
    assert len(clean.sandbox.messages("#d-alerts")) == 1
    # A service that depends on it now fails too: that is news.
    fire("payments", "pool 50/50 used on payments-2", 40, "0")
    wait_for(
        lambda: len(clean.sandbox.messages("#d-alerts")) == 2, what="the incident's new message"
    )
    latest = clean.sandbox.messages("#d-alerts")[-1]["text"]
    assert "3 alerts firing" in latest and "orders-db" in latest


def test_slash_command_lists_open_incidents(clean: Stack, web: TestClient) -> None:
    from tests.tasks.test_chatops import command_body, response_url, signed, wait_answer

    clean.sandbox.configure(rate_limit=False)
    alert_ids = _cascade()
    (incident,) = _members_placed(len(alert_ids))
    body = command_body("incidents", url=response_url(clean), team="T0TENANTC")
    assert web.post("/slack/commands", content=body, headers=signed(body)).status_code == 200
    listed = wait_answer(clean, "open incidents")
    assert f"`{incident['id'][:8]}`" in listed
    assert "root cause: orders-db" in listed and "4" in listed
