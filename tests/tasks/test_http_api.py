"""POST /api/v1/alerts and lifecycle over HTTP, with tenant API keys; tenant isolation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.tasks.helpers import all_sent, key_headers, wait_details


@pytest.mark.broker
def test_post_alert_is_delivered(web: TestClient, clean: Stack) -> None:
    resp = web.post(
        "/api/v1/alerts",
        headers=key_headers("tenant-a"),
        json={
            "alert_type": "latency_slo_burn",
            "severity": "error",
            "message": "p99 > 2s",
            "labels": {"service": "checkout"},
            "annotations": {"runbook_url": "https://runbooks/x"},
        },
    )
    assert resp.status_code == 202, resp.text
    found = wait_details(resp.json()["id"], all_sent)
    assert found["alert"]["source"].startswith("http:alk_")
    (message,) = clean.sandbox.messages("#a-alerts")
    assert "<https://runbooks/x|Runbook>" in str(message["blocks"])


def test_keys_are_required_and_stored_hashed(web: TestClient) -> None:
    body = {"alert_type": "x", "severity": "info", "message": "m"}
    assert web.post("/api/v1/alerts", json=body).status_code == 401
    assert (
        web.post(
            "/api/v1/alerts", json=body, headers={"Authorization": "Bearer alk_nope"}
        ).status_code
        == 401
    )
    headers = key_headers("tenant-a")
    key = headers["Authorization"].split()[1]
    with session_scope() as session:
        from sqlalchemy import text

        stored = session.execute(text("SELECT key_hash, prefix FROM api_keys")).all()
    assert all(key not in (row.key_hash, row.prefix) for row in stored)


def test_a_revoked_key_is_refused(web: TestClient, clean: Stack) -> None:
    import subprocess

    from tests.services import cli

    headers = key_headers("tenant-a")
    body = {"alert_type": "x", "severity": "info", "message": "m"}
    assert web.post("/api/v1/alerts", json=body, headers=headers).status_code == 202
    prefix = headers["Authorization"].split()[1][:10]
    done = subprocess.run(
        cli("tenants", "revoke-key", "tenant-a", prefix),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert web.post("/api/v1/alerts", json=body, headers=headers).status_code == 401


def test_bad_input_names_the_field(web: TestClient) -> None:
    headers = key_headers("tenant-a")
    resp = web.post(
        "/api/v1/alerts",
        headers=headers,
        json={
            "alert_type": "x",
            "severity": "urgent",
            "message": "",
            "labels": {"a": {"b": 1}},
            "colour": 1,
        },
    )
    assert resp.status_code == 422
    fields = {p["field"] for p in resp.json()["problems"]}
    assert {"severity", "message", "labels.a", "colour"} <= fields
    assert web.post("/api/v1/alerts", headers=headers, json=[1, 2]).status_code == 422


def test_a_tenant_never_reads_or_writes_another_tenants_alerts(web: TestClient) -> None:
    a, b = key_headers("tenant-a"), key_headers("tenant-b")
    resp = web.post(
        "/api/v1/alerts",
        headers=a,
        json={"alert_type": "x", "severity": "info", "message": "secret-a"},
    )
    event_id = resp.json()["id"]
    found = wait_details(event_id, all_sent)
    alert_id = found["alert"]["id"]
    assert web.get(f"/api/v1/alerts/{alert_id}", headers=a).status_code == 200
    for path in (f"/api/v1/alerts/{alert_id}", f"/api/v1/alerts/{event_id}"):
        resp = web.get(path, headers=b)
        assert resp.status_code == 404 and "secret-a" not in resp.text
    assert web.post(f"/api/v1/alerts/{alert_id}/ack", headers=b).status_code == 404
    assert web.post(f"/api/v1/alerts/{alert_id}/resolve", headers=b).status_code == 404
    spoof = web.post(
        "/api/v1/alerts",
        headers=b,
        json={"tenant_id": "tenant-a", "alert_type": "x", "severity": "info", "message": "m"},
    )
    assert spoof.status_code == 403
    ack = web.post(f"/api/v1/alerts/{alert_id}/ack", headers=a, json={"by": "alice"})
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"


@pytest.mark.broker
def test_metrics_are_exposed(web: TestClient) -> None:
    resp = web.get("/metrics")
    assert resp.status_code == 200
    assert "alerting_notifications_total" in resp.text
    health = web.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "ok": True,
        "dependencies": {"postgres": "ok", "broker": "ok", "redis": "ok"},
    }
