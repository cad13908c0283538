"""The web UI live, against a real ``alerting web``: server-sent events of the user's tenant
only, resumed after a reconnect with ``Last-Event-ID``; then the page in a real headless
browser (the system's chromium through Playwright): sign in, see the tenant's alerts, see a new
one appear without reload, acknowledge it, never see another tenant's; a viewer finds no
buttons and is refused when forcing one."""

from __future__ import annotations

import json
import os
import queue
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from playwright import sync_api

from alerting import send_alert
from alerting.db.session import session_scope
from alerting.users import create_user
from tests.browser import launch_chromium, running_web_app
from tests.conftest import Stack
from tests.services import ROOT
from tests.tasks.helpers import details, wait_details

SCREENSHOTS = Path(os.environ.get("ALERTING_TEST_LOGS", ROOT / ".alerting"))
PASSWORD = "correct horse battery"


@pytest.fixture
def ui_server(clean: Stack) -> Iterator[str]:
    broker = redis.Redis.from_url(clean.redis_url)
    for key in broker.scan_iter("alerting:ui:*"):
        broker.delete(key)
    with session_scope() as session:
        create_user(
            session,
            tenant_id="tenant-a",
            email="resp@example.com",
            role="responder",
            password=PASSWORD,
        )
        create_user(
            session,
            tenant_id="tenant-a",
            email="view@example.com",
            role="viewer",
            password=PASSWORD,
        )
    with running_web_app(clean, "web-ui") as url:
        yield url


def _fire(tenant_id: str, alert_type: str, message: str = "m") -> str:
    return str(
        send_alert.delay(
            tenant_id=tenant_id, alert_type=alert_type, severity="error", message=message
        ).id
    )


def _session_cookie(base: str, email: str) -> str:
    """Sign in as a browser would; the cookies are sent by hand since they are Secure and
    this is plain http (browsers trust 127.0.0.1 with them, requests does not)."""
    form = requests.get(f"{base}/ui/login", timeout=5)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    signed = requests.post(
        f"{base}/ui/login",
        data={"email": email, "password": PASSWORD, "csrf": csrf},
        headers={"Cookie": f"alerting_login_csrf={csrf}"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 303, signed.text
    found = re.search(r"alerting_session=([^;]+)", signed.headers["set-cookie"])
    assert found
    return found.group(1)


def _listen(base: str, cookie: str, last: str | None, into: queue.Queue[Any]) -> Any:
    headers = {"Cookie": f"alerting_session={cookie}"}
    if last:
        headers["Last-Event-ID"] = last
    answer = requests.get(
        f"{base}/ui/events?tenant=tenant-a", headers=headers, stream=True, timeout=30
    )
    assert answer.status_code == 200

    def read() -> None:
        ident = None
        try:
            for line in answer.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    ident = line[4:]
                elif line.startswith("data: "):
                    into.put((ident, json.loads(line[6:])))
        except requests.RequestException:
            pass

    threading.Thread(target=read, daemon=True).start()
    return answer


def _until(into: queue.Queue[Any], predicate: Any) -> tuple[str, dict[str, Any]]:
    seen: list[Any] = []
    while True:
        try:
            item = into.get(timeout=20)
        except queue.Empty:
            raise AssertionError(f"no such event; saw {seen}") from None
        seen.append(item)
        if predicate(item[1]):
            return item  # type: ignore[no-any-return]


def test_live_events_of_one_tenant_resume_after_a_reconnect(clean: Stack, ui_server: str) -> None:
    cookie = _session_cookie(ui_server, "resp@example.com")
    events: queue.Queue[Any] = queue.Queue()
    stream = _listen(ui_server, cookie, None, events)
    theirs = _fire("tenant-b", "secret_of_b")
    mine = _fire("tenant-a", "disk_full")
    mine_alert = wait_details(mine, lambda d: d["alert"] is not None)["alert"]["id"]
    last, _ = _until(events, lambda e: e.get("alert_id") == mine_alert)
    stream.close()
    # While no page listens, two more changes; the reconnecting page gets both, in order.
    missed = [_fire("tenant-a", "missed_one"), _fire("tenant-a", "missed_two")]
    missed_alerts = [
        wait_details(e, lambda d: d["alert"] is not None)["alert"]["id"] for e in missed
    ]
    again: queue.Queue[Any] = queue.Queue()
    stream = _listen(ui_server, cookie, last, again)
    got: list[str] = []
    while set(missed_alerts) - set(got):
        got.append(_until(again, lambda e: "alert_id" in e)[1]["alert_id"])
    stream.close()
    assert [a for a in got if a in missed_alerts] == missed_alerts
    every = list(events.queue) + list(again.queue)
    theirs_alert = wait_details(theirs, lambda d: d["alert"] is not None)["alert"]["id"]
    assert all(e["tenant_id"] == "tenant-a" for _, e in every)
    assert theirs_alert not in json.dumps(every)


def _browser(pw: Any) -> Any:
    return launch_chromium(pw)


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/ui/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/ui/")


def test_the_page_in_a_browser(clean: Stack, ui_server: str) -> None:
    clean.sandbox.configure(rate_limit=False)
    before = _fire("tenant-a", "cpu_high", "CPU at 97% on web-3")
    wait_details(before, lambda d: d["alert"] is not None)
    theirs = _fire("tenant-b", "secret_of_b", "tenant-b's own business")
    wait_details(theirs, lambda d: d["alert"] is not None)
    with sync_api.sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            _sign_in(page, ui_server, "resp@example.com")
            alerts = page.locator("#alerts")
            sync_api.expect(alerts).to_contain_text("CPU at 97% on web-3")
            # Sent now, shown without reload (the page is never navigated again).
            fresh = _fire("tenant-a", "disk_full", "Disk /var is 97% full on db-1")
            row = page.locator("tr.alert", has_text="97% full on db-1")
            sync_api.expect(row).to_be_visible(timeout=10_000)
            page.screenshot(path=str(SCREENSHOTS / "ui-alerts.png"), full_page=True)
            row.get_by_role("button", name="Acknowledge").click()
            acked = page.locator("tr.alert.status-acknowledged", has_text="97% full on db-1")
            sync_api.expect(acked).to_be_visible(timeout=10_000)
            assert "tenant-b's own business" not in page.content()
            page.goto(f"{ui_server}/ui/figures")
            sync_api.expect(page.locator("svg.chart")).to_have_count(4)
            page.screenshot(path=str(SCREENSHOTS / "ui-figures.png"), full_page=True)
            page.goto(f"{ui_server}/ui/?tenant=tenant-b")
            assert "tenant-b's own business" not in page.content()

            viewer = browser.new_context().new_page()
            _sign_in(viewer, ui_server, "view@example.com")
            sync_api.expect(viewer.locator("#alerts")).to_contain_text("CPU at 97% on web-3")
            assert viewer.locator("button.action").count() == 0
            alert_id = viewer.locator("tr.alert", has_text="CPU at 97%").get_attribute(
                "data-alert-id"
            )
            csrf = viewer.locator("input[name=csrf]").first.get_attribute("value")
            forced = viewer.evaluate(
                """([id, csrf]) => fetch(`/ui/alerts/${id}/ack`, {method: "POST",
                     headers: {"X-CSRF-Token": csrf}}).then(r => r.status)""",
                [alert_id, csrf],
            )
            assert forced == 403
        finally:
            browser.close()
    found = details(fresh)
    assert found is not None and found["alert"]["acknowledged_by"] == "user:resp@example.com"
    assert details(before)["alert"]["status"] == "firing"  # type: ignore[index]
