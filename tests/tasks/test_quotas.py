"""Quotas per tenant at the edges: body size (413), events per second (429 with Retry-After),
silences; and silence listings a page at a time (HTTP and CLI)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from alerting.db.session import session_scope
from alerting.settings import Settings
from alerting.web.app import create_app
from tests.conftest import Stack
from tests.services import cli
from tests.tasks.helpers import key_headers

ALERT = {"alert_type": "quota_check", "severity": "info", "message": "m"}


@contextlib.contextmanager
def quotas(tenant_id: str, **values: Any) -> Iterator[None]:
    """The tenant's stored quotas set to ``values`` for the block (tenants outlive tests)."""
    with session_scope() as session:
        session.execute(
            text("UPDATE tenants SET config = jsonb_set(config, '{quotas}', :q) WHERE id = :id"),
            {"q": json.dumps(values), "id": tenant_id},
        )
    try:
        yield
    finally:
        with session_scope() as session:
            session.execute(
                text("UPDATE tenants SET config = config - 'quotas' WHERE id = :id"),
                {"id": tenant_id},
            )


def am_payload(count: int, padding: int = 0) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "Big", "severity": "info", "i": str(i)},
            "annotations": {"summary": "x" * padding},
            "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": f"{i:016x}",
        }
        for i in range(count)
    ]
    return {"version": "4", "status": "firing", "alerts": alerts}


def test_bodies_over_the_limit_are_refused_with_413(clean: Stack) -> None:
    app = create_app(Settings(ALERTING_MAX_BODY_BYTES=64_000))
    with TestClient(app) as web:
        headers = key_headers("tenant-a")
        url = "/api/v1/integrations/alertmanager/tenant-a"
        big = web.post(url, headers=headers, json=am_payload(200, padding=1000))
        assert big.status_code == 413, big.text
        assert "larger than 64000 bytes (ALERTING_MAX_BODY_BYTES)" in big.json()["error"]
        # Before the key is even looked at: a stranger's flood costs no database query.
        assert web.post(url, json=am_payload(200, padding=1000)).status_code == 413
        assert web.post(url, headers=headers, json=am_payload(5)).status_code == 202
        with quotas("tenant-a", max_body_bytes=500):
            own = web.post(url, headers=headers, json=am_payload(5))
            assert own.status_code == 413, own.text
            assert "quotas.max_body_bytes" in own.json()["error"]
            other = key_headers("tenant-b")
            url_b = "/api/v1/integrations/alertmanager/tenant-b"
            assert web.post(url_b, headers=other, json=am_payload(5)).status_code == 202


def test_events_per_second_are_limited_per_tenant_with_retry_after(
    web: TestClient, clean: Stack
) -> None:
    headers = key_headers("tenant-a")
    with quotas("tenant-a", events_per_second=0.1, events_burst=3):
        answers = [web.post("/api/v1/alerts", headers=headers, json=ALERT) for _ in range(4)]
        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        refused = answers[-1]
        assert 1 <= int(refused.headers["Retry-After"]) <= 10
        assert "quotas.events_per_second" in refused.json()["error"]
        # An Alertmanager post counts its alerts.
        url = "/api/v1/integrations/alertmanager/tenant-a"
        assert web.post(url, headers=headers, json=am_payload(2)).status_code == 429
        # Another tenant is not affected.
        other = key_headers("tenant-b")
        assert web.post("/api/v1/alerts", headers=other, json=ALERT).status_code == 202


def test_silences_are_limited_per_tenant(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    body = {"matchers": ["team=db"], "duration": "1h", "comment": "c"}
    with quotas("tenant-a", silences=2):
        first = web.post("/api/v1/silences", headers=headers, json=body)
        assert first.status_code == 201
        assert web.post("/api/v1/silences", headers=headers, json=body).status_code == 201
        third = web.post("/api/v1/silences", headers=headers, json=body)
        assert third.status_code == 422
        (problem,) = third.json()["problems"]
        assert problem["field"] == "quotas.silences" and "2 active or pending" in problem["reason"]
        # Expiring one makes room.
        web.delete(f"/api/v1/silences/{first.json()['id']}", headers=headers)
        assert web.post("/api/v1/silences", headers=headers, json=body).status_code == 201
        added = subprocess.run(
            cli(
                "silence",
                "add",
                "--tenant",
                "tenant-a",
                "--matcher",
                "team=db",
                "--duration",
                "1h",
                "--author",
                "me",
                "--comment",
                "c",
            ),
            env=clean.env,
            capture_output=True,
            text=True,
        )
        assert added.returncode == 2 and "quotas.silences" in added.stderr


def _insert_silences(tenant_id: str, count: int) -> None:
    with session_scope() as session:
        session.execute(
            text(
                "INSERT INTO silences (id, tenant_id, matchers, starts_at, ends_at, created_by,"
                " comment, created_at)"
                " SELECT gen_random_uuid(), :tenant, jsonb_build_array('n=' || i),"
                " now() - (i || ' seconds')::interval, now() + interval '1 hour', 'bulk', '',"
                " now() FROM generate_series(1, :count) AS i"
            ),
            {"tenant": tenant_id, "count": count},
        )


def test_silence_listings_are_paginated(web: TestClient, clean: Stack) -> None:
    _insert_silences("tenant-a", 250)
    headers = key_headers("tenant-a")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = web.get("/api/v1/silences", headers=headers, params=params).json()
        seen.extend(s["id"] for s in page["silences"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 250
    # The default page is 100; tenant-b sees none of them.
    assert len(web.get("/api/v1/silences", headers=headers).json()["silences"]) == 100
    other = web.get("/api/v1/silences", headers=key_headers("tenant-b")).json()
    assert other == {"silences": [], "next_cursor": None}
    bad = web.get("/api/v1/silences", headers=headers, params={"cursor": "nope"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "cursor"
    too_many = web.get("/api/v1/silences", headers=headers, params={"limit": 5000})
    assert too_many.status_code == 422

    listed = subprocess.run(
        cli("silence", "list", "--tenant", "tenant-a", "--limit", "2"),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0, listed.stderr
    assert "more: --cursor " in listed.stderr
    next_cursor = listed.stderr.split("more: --cursor ")[1].split()[0]
    following = subprocess.run(
        cli("silence", "list", "--tenant", "tenant-a", "--limit", "2", "--cursor", next_cursor),
        env=clean.env,
        capture_output=True,
        text=True,
    )
    assert following.returncode == 0, following.stderr
    assert following.stdout != listed.stdout
