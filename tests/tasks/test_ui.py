"""The web UI at /ui/, through HTTP: signing in (CSRF, rate limit, secure cookies), a user's
tenants only, filters and groups, a viewer's missing buttons and refused actions, actions
audited with the person and told on Slack as a button would, silences from the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerting import send_alert
from alerting.db.session import session_scope
from alerting.users import create_user
from tests.conftest import Stack
from tests.tasks.helpers import all_sent, details, wait_details

PASSWORD = "correct horse battery"


@pytest.fixture
def ui(clean: Stack) -> Iterator[TestClient]:
    import redis

    from alerting.web.app import create_app

    # Sign-in attempts are counted per client address, the same for every test.
    broker = redis.Redis.from_url(clean.redis_url)
    for key in broker.scan_iter("alerting:ui:*"):
        broker.delete(key)
    with session_scope() as session:
        for email, tenant, role in [
            ("resp@example.com", "tenant-a", "responder"),
            ("view@example.com", "tenant-a", "viewer"),
            ("both@example.com", "tenant-a", "viewer"),
            ("both@example.com", "tenant-b", "responder"),
        ]:
            create_user(session, tenant_id=tenant, email=email, role=role, password=PASSWORD)
    # https: the session cookie is Secure, so a client sends it only there.
    with TestClient(create_app(), base_url="https://testserver") as client:
        yield client


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    token = _csrf(client.get("/ui/login").text)
    return client.post(
        "/ui/login",
        data={"email": email, "password": password, "csrf": token},
        follow_redirects=False,
    )


def _fire(tenant_id: str, alert_type: str, **fields: Any) -> str:
    event = send_alert.delay(
        tenant_id=tenant_id, alert_type=alert_type, severity="error", message="m", **fields
    ).id
    return str(wait_details(str(event), lambda d: d["alert"] is not None)["alert"]["id"])


def test_pages_need_a_session_and_the_cookie_is_secure(ui: TestClient) -> None:
    page = ui.get("/ui/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/ui/login"
    assert ui.post("/ui/alerts/x/ack", follow_redirects=False).status_code == 401
    signed = _login(ui, "resp@example.com")
    assert signed.status_code == 303, signed.text
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    assert ui.get("/ui/").status_code == 200


def test_login_refuses_a_form_without_its_csrf_token(ui: TestClient) -> None:
    ui.get("/ui/login")
    answer = ui.post("/ui/login", data={"email": "resp@example.com", "password": PASSWORD})
    assert answer.status_code == 403 and "csrf" in answer.text
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_login_attempts_are_rate_limited(ui: TestClient) -> None:
    for _ in range(5):
        assert _login(ui, "resp@example.com", "wrong password").status_code == 401
    # Even the right password waits now.
    assert _login(ui, "resp@example.com").status_code == 429


def test_actions_need_the_session_csrf_token(ui: TestClient) -> None:
    alert_id = _fire("tenant-a", "csrf_probe")
    _login(ui, "resp@example.com")
    refused = ui.post(f"/ui/alerts/{alert_id}/ack", data={}, follow_redirects=False)
    assert refused.status_code == 403 and "csrf" in refused.text
    assert details(alert_id)["alert"]["status"] == "firing"  # type: ignore[index]


def test_a_user_sees_only_their_tenants_filtered_and_grouped(ui: TestClient) -> None:
    mine = _fire("tenant-a", "disk_full", labels={"team": "db"})
    _fire("tenant-a", "cpu_high", labels={"team": "web"})
    theirs = _fire("tenant-b", "secret_of_b")
    _login(ui, "view@example.com")
    page = ui.get("/ui/").text
    assert "disk_full" in page and "cpu_high" in page and "secret_of_b" not in page
    assert ui.get("/ui/?tenant=tenant-b").status_code == 404
    assert ui.get(f"/ui/alerts/{theirs}").status_code == 404
    assert "disk_full" in ui.get(f"/ui/alerts/{mine}").text
    filtered = ui.get("/ui/", params={"filter": '{team=~"d.*"}'}).text
    assert "disk_full" in filtered and "cpu_high" not in filtered
    grouped = ui.get("/ui/", params={"group": "team"}).text
    assert "team = db" in grouped and "team = web" in grouped
    bad = ui.get("/ui/", params={"filter": "team=~(("})
    assert bad.status_code == 422 and "filter" in bad.text


def test_a_viewer_has_no_buttons_and_is_refused_when_forcing_one(ui: TestClient) -> None:
    alert_id = _fire("tenant-a", "viewer_probe")
    _login(ui, "view@example.com")
    page = ui.get("/ui/").text
    assert "viewer_probe" in page and 'class="action"' not in page
    assert 'class="action"' not in ui.get(f"/ui/alerts/{alert_id}").text
    token = _csrf(page)
    for action in ("ack", "resolve", "silence"):
        forced = ui.post(f"/ui/alerts/{alert_id}/{action}", data={"csrf": token})
        assert forced.status_code == 403, (action, forced.text)
    assert details(alert_id)["alert"]["status"] == "firing"  # type: ignore[index]


def test_roles_are_per_tenant(ui: TestClient) -> None:
    in_a, in_b = _fire("tenant-a", "probe_a"), _fire("tenant-b", "probe_b")
    _login(ui, "both@example.com")
    token = _csrf(ui.get("/ui/").text)
    # Responder in tenant-b, viewer in tenant-a.
    assert ui.post(f"/ui/alerts/{in_a}/ack", data={"csrf": token}).status_code == 403
    done = ui.post(f"/ui/alerts/{in_b}/ack", data={"csrf": token}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert details(in_b)["alert"]["status"] == "acknowledged"  # type: ignore[index]


def test_acknowledge_from_the_page_is_audited_and_told_on_slack(ui: TestClient) -> None:
    alert_id = _fire("tenant-a", "ack_probe")
    wait_details(alert_id, all_sent, what="the alert's Slack message")
    _login(ui, "resp@example.com")
    token = _csrf(ui.get("/ui/").text)
    done = ui.post(
        f"/ui/alerts/{alert_id}/ack", data={"csrf": token, "next": "/ui/"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/ui/"
    found = wait_details(
        alert_id,
        lambda d: all_sent(d) and any(n["kind"] == "acknowledged" for n in d["notifications"]),
        what="the acknowledgement told on Slack",
    )
    assert found["alert"]["acknowledged_by"] == "user:resp@example.com"
    assert any(
        a["action"] == "alert.acknowledged" and a["actor"] == "user:resp@example.com"
        for a in found["audit"]
    )
    page = ui.get(f"/ui/alerts/{alert_id}").text
    assert "user:resp@example.com" in page and "acknowledged" in page


def test_silences_made_and_expired_from_the_page(ui: TestClient) -> None:
    _login(ui, "resp@example.com")
    token = _csrf(ui.get("/ui/silences").text)
    bad = ui.post("/ui/silences", data={"csrf": token, "matchers": "team=~((", "duration": "1h"})
    assert bad.status_code == 422 and "matchers" in bad.text
    made = ui.post(
        "/ui/silences",
        data={"csrf": token, "matchers": "alertname=disk_*, team=db", "duration": "2h"},
    )
    assert made.status_code == 200 and "disk_*" in made.text, made.text
    silence_id = re.search(r"/ui/silences/([0-9a-f-]+)/expire", made.text).group(1)  # type: ignore[union-attr]
    expired = ui.post(f"/ui/silences/{silence_id}/expire", data={"csrf": token})
    assert expired.status_code == 200 and "disk_*" not in expired.text
    assert (
        ui.post(
            "/ui/silences/00000000-0000-0000-0000-000000000001/expire", data={"csrf": token}
        ).status_code
        == 404
    )


def test_a_disabled_user_is_signed_out(ui: TestClient) -> None:
    from alerting.users import disable_user

    _login(ui, "resp@example.com")
    assert ui.get("/ui/").status_code == 200
    with session_scope() as session:
        disable_user(session, email="resp@example.com")
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_figures_with_plots(ui: TestClient) -> None:
    acked = _fire("tenant-a", "figure_one")
    _fire("tenant-a", "figure_two")
    wait_details(acked, all_sent, what="the alert's Slack message")
    _fire("tenant-b", "not_counted")
    _login(ui, "resp@example.com")
    token = _csrf(ui.get("/ui/").text)
    ui.post(f"/ui/alerts/{acked}/ack", data={"csrf": token})
    page = ui.get("/ui/figures").text
    assert page.count("<svg") == 4
    assert "Alerts per hour (last 24 h): 2" in page
    assert "1 acknowledged, median" in page and "0 resolved" in page
    assert "Slack messages per alert (last 7 days): " in page and "on average" in page
    assert ui.get("/ui/figures?tenant=tenant-b").status_code == 404


def test_signing_out_needs_the_csrf_token_and_ends_the_session(ui: TestClient) -> None:
    _login(ui, "resp@example.com")
    token = _csrf(ui.get("/ui/").text)
    assert ui.post("/ui/logout", data={}).status_code == 403
    assert ui.get("/ui/").status_code == 200
    out = ui.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert ui.get("/ui/", follow_redirects=False).status_code == 303
