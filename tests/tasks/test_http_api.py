"""POST /api/v1/alerts and lifecycle over HTTP, with tenant API keys; tenant isolation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerting.db.repositories import create_api_key
from alerting.db.session import session_scope
from alerting.web.app import create_app
from tests.conftest import Stack
from tests.tasks.helpers import all_sent, wait_details


@pytest.fixture
def api(clean: Stack) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def _key(tenant_id: str) -> dict[str, str]:
    with session_scope() as session:
        return {"Authorization": f"Bearer {create_api_key(session, tenant_id)}"}


def test_post_alert_is_delivered(api: TestClient, clean: Stack) -> None:
    resp = api.post(
        "/api/v1/alerts",
        headers=_key("tenant-a"),
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


def test_keys_are_required_and_stored_hashed(api: TestClient) -> None:
    body = {"alert_type": "x", "severity": "info", "message": "m"}
    assert api.post("/api/v1/alerts", json=body).status_code == 401
    assert (
        api.post(
            "/api/v1/alerts", json=body, headers={"Authorization": "Bearer alk_nope"}
        ).status_code
        == 401
    )
    headers = _key("tenant-a")
    key = headers["Authorization"].split()[1]
    with session_scope() as session:
        from sqlalchemy import text

        stored = session.execute(text("SELECT key_hash, prefix FROM api_keys")).all()
    assert all(key not in (row.key_hash, row.prefix) for row in stored)


def test_a_revoked_key_is_refused(api: TestClient, clean: Stack) -> None:
    import subprocess

    from tests.services import cli

    headers = _key("tenant-a")
    body = {"alert_type": "x", "severity": "info", "message": "m"}
    assert api.post("/api/v1/alerts", json=body, headers=headers).status_code == 202
    prefix = headers["Authorization"].split()[1][:10]
    done = subprocess.run(
        cli("tenants", "revoke-key", "tenant-a", prefix),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert api.post("/api/v1/alerts", json=body, headers=headers).status_code == 401


def test_bad_input_names_the_field(api: TestClient) -> None:
    headers = _key("tenant-a")
    resp = api.post(
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
    assert api.post("/api/v1/alerts", headers=headers, json=[1, 2]).status_code == 422


def test_a_tenant_never_reads_or_writes_another_tenants_alerts(api: TestClient) -> None:
    a, b = _key("tenant-a"), _key("tenant-b")
    resp = api.post(
        "/api/v1/alerts",
        headers=a,
        json={"alert_type": "x", "severity": "info", "message": "secret-a"},
    )
    event_id = resp.json()["id"]
    found = wait_details(event_id, all_sent)
    alert_id = found["alert"]["id"]
    assert api.get(f"/api/v1/alerts/{alert_id}", headers=a).status_code == 200
    for path in (f"/api/v1/alerts/{alert_id}", f"/api/v1/alerts/{event_id}"):
        resp = api.get(path, headers=b)
        assert resp.status_code == 404 and "secret-a" not in resp.text
    assert api.post(f"/api/v1/alerts/{alert_id}/ack", headers=b).status_code == 404
    assert api.post(f"/api/v1/alerts/{alert_id}/resolve", headers=b).status_code == 404
    spoof = api.post(
        "/api/v1/alerts",
        headers=b,
        json={"tenant_id": "tenant-a", "alert_type": "x", "severity": "info", "message": "m"},
    )
    assert spoof.status_code == 403
    ack = api.post(f"/api/v1/alerts/{alert_id}/ack", headers=a, json={"by": "alice"})
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"


def test_metrics_are_exposed(api: TestClient) -> None:
    resp = api.get("/metrics")
    assert resp.status_code == 200
    assert "alerting_notifications_total" in resp.text
    assert api.get("/healthz").json() == {"ok": True}
