"""Alertmanager's webhook over HTTP: keys, tenants, refusals, re-posts and a big batch, through
the real worker to the sandbox."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alerting.db.models import Alert
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import key_headers
from tests.unit.test_alertmanager import am_alert, payload

URL = "/api/v1/integrations/alertmanager/{}"


def stored(tenant_id: str = "tenant-a") -> list[Alert]:
    with session_scope() as session:
        alerts = session.scalars(select(Alert).where(Alert.tenant_id == tenant_id)).all()
        session.expunge_all()
    return sorted(alerts, key=lambda a: (a.first_seen_at, a.labels.get("instance", "")))


def wait_stored(count: int, *, tenant_id: str = "tenant-a", timeout: float = 15) -> list[Alert]:
    return wait_for(
        lambda: found if len(found := stored(tenant_id)) >= count else None,
        timeout=timeout,
        what=f"{count} stored alerts",
    )


def accepted(web: TestClient, metric_status: str) -> float:
    found = re.search(
        rf'alerting_alertmanager_alerts_total{{status="{metric_status}",tenant="tenant-a"}} (\S+)',
        web.get("/metrics").text,
    )
    return float(found.group(1)) if found else 0.0


def labelled(index: int, **labels: str) -> dict[str, Any]:
    return am_alert(index, labels={"alertname": "HighCPU", "instance": f"web-{index}", **labels})


def test_a_batch_fires_then_resolves(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    before = accepted(web, "firing"), accepted(web, "resolved")
    batch = payload(labelled(0, severity="error", env="staging"), labelled(1))
    resp = web.post(URL.format("tenant-a"), headers=headers, json=batch)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert (body["firing"], body["resolved"], body["severity_defaulted"]) == (2, 0, 1)
    assert len(body["events"]) == 2

    staging, default = wait_stored(2)
    assert (staging.alert_type, staging.severity, staging.environment) == (
        "HighCPU",
        "error",
        "staging",
    )
    assert default.severity == "warning" and default.labels["severity_defaulted"] == "missing"
    wait_for(
        lambda: clean.sandbox.messages("#a-staging") and clean.sandbox.messages("#a-alerts"),
        what="one message in each channel",
    )
    assert "CPU above 90% on web-0" in str(clean.sandbox.messages("#a-staging"))
    shown = str(clean.sandbox.messages("#a-alerts"))
    assert "CPU above 90% on web-1" in shown and "severity_defaulted" in shown
    assert accepted(web, "firing") == before[0] + 2

    ended = [
        {**alert, "status": "resolved", "endsAt": "2024-05-01T10:07:00Z"}
        for alert in batch["alerts"]
    ]
    resp = web.post(
        URL.format("tenant-a"), headers=headers, json=payload(*ended, status="resolved")
    )
    assert resp.status_code == 202 and resp.json()["resolved"] == 2
    wait_for(lambda: all(a.status == "resolved" for a in stored()), what="both alerts resolved")
    assert {a.resolved_at.isoformat() for a in stored() if a.resolved_at} == {
        "2024-05-01T10:07:00+00:00"
    }
    wait_for(
        lambda: (
            len(clean.sandbox.messages("#a-staging")) == 2
            and len(clean.sandbox.messages("#a-alerts")) == 2
        ),
        what="the resolutions posted",
    )
    assert accepted(web, "resolved") == before[1] + 2


def test_a_re_posted_batch_changes_nothing(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    batch = payload(labelled(0, severity="info"), labelled(1, severity="info"))
    assert web.post(URL.format("tenant-a"), headers=headers, json=batch).status_code == 202
    wait_stored(2)
    wait_for(lambda: len(clean.sandbox.messages("#a-alerts")) == 2, what="two messages")
    # Alertmanager's repeat_interval, or its retry after a timeout: the very same post.
    for _ in range(2):
        assert web.post(URL.format("tenant-a"), headers=headers, json=batch).status_code == 202
    later = payload(am_alert(9, labels={"alertname": "Later", "severity": "info"}))
    assert web.post(URL.format("tenant-a"), headers=headers, json=later).status_code == 202
    wait_stored(3)
    time.sleep(1.5)
    assert [a.count for a in stored()] == [1, 1, 1]
    assert len(clean.sandbox.messages("#a-alerts")) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "5"}, "version"),
        ({"alerts": [am_alert(0), am_alert(1, labels={"severity": "info"})]}, "alerts.1.labels"),
        ({"alerts": [am_alert(0), am_alert(1, startsAt="10:00")]}, "alerts.1.startsAt"),
        (
            {"alerts": [am_alert(0), am_alert(1, status="resolved", endsAt="2000-01-01T00:00Z")]},
            "alerts.1.endsAt",
        ),
    ],
)
def test_a_bad_batch_is_refused_whole(
    web: TestClient, clean: Stack, change: dict[str, Any], field: str
) -> None:
    headers = key_headers("tenant-a")
    resp = web.post(URL.format("tenant-a"), headers=headers, json=payload(**change))
    assert resp.status_code == 422, resp.text
    problems = resp.json()["problems"]
    assert any(p["field"].startswith(field) for p in problems), problems
    # The good alert before the bad one was not enqueued: only the next post's alert shows.
    later = payload(am_alert(9, labels={"alertname": "Later", "severity": "info"}))
    assert web.post(URL.format("tenant-a"), headers=headers, json=later).status_code == 202
    wait_stored(1)
    time.sleep(1)
    assert [a.alert_type for a in stored()] == ["Later"]


def test_keys_and_tenants(web: TestClient) -> None:
    batch = payload(am_alert(0))
    assert web.post(URL.format("tenant-a"), json=batch).status_code == 401
    wrong = {"Authorization": "Bearer alk_not-a-key"}
    assert web.post(URL.format("tenant-a"), json=batch, headers=wrong).status_code == 401
    headers = key_headers("tenant-a")
    for other in ("tenant-b", "no-such-tenant"):
        resp = web.post(URL.format(other), json=batch, headers=headers)
        assert resp.status_code == 403, resp.text
    time.sleep(1)
    assert stored("tenant-a") == [] and stored("tenant-b") == []


def test_a_batch_of_300_is_taken_whole(web: TestClient, clean: Stack) -> None:
    # How fast it is answered is measured by the bench, not asserted here.
    clean.sandbox.configure(rate_limit=False)
    headers = key_headers("tenant-a")
    batch = payload(*(labelled(i, severity="warning") for i in range(300)))
    resp = web.post(URL.format("tenant-a"), headers=headers, json=batch)
    assert resp.status_code == 202 and resp.json()["firing"] == 300
    assert len(wait_stored(300, timeout=60)) == 300
