"""The sandbox page in a real headless browser (the system's chromium through Playwright):
click Acknowledge on an alert and see the message change in place; type ``/alerts list`` and
see the answer; open the silence modal and submit it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright import sync_api

from alerting import send_alert
from tests.browser import launch_chromium, running_web_app
from tests.conftest import Stack
from tests.services import ROOT
from tests.tasks.helpers import all_sent, wait_details

#: Where the test leaves a screenshot of the page (the README's is docs/sandbox.png).
SCREENSHOTS = Path(os.environ.get("ALERTING_TEST_LOGS", ROOT / ".alerting"))


@pytest.fixture
def web_server(clean: Stack) -> Iterator[str]:
    with running_web_app(clean, "web-browser") as url:
        yield url


def test_click_acknowledge_and_type_a_command_in_the_page(clean: Stack, web_server: str) -> None:
    base = clean.sandbox.base_url
    requests.post(
        f"{base}/sandbox/app",
        json={
            "app_url": web_server,
            "team_id": "T0TENANTW",
            "user_id": "U0DEV",
            "user_name": "dana",
        },
        timeout=5,
    ).raise_for_status()
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-w",
        alert_type="disk_full",
        severity="critical",
        environment="production",
        message="Disk */var* is 97% full on `db-1`",
        labels={"host": "db-1", "service": "postgres"},
    ).id
    alert_id = wait_details(event_id, all_sent)["alert"]["id"]

    with sync_api.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + "/")
            message = page.locator(".msg", has_text="97% full").first
            # mrkdwn and emoji are rendered, not shown as markup.
            sync_api.expect(message.locator("code", has_text="db-1")).to_be_visible()
            assert ":red_circle:" not in message.inner_text()
            message.get_by_role("button", name="Acknowledge").click()
            sync_api.expect(message).to_contain_text("Acknowledged by @dana", timeout=2000)

            page.locator("#text").fill("/alerts list")
            page.locator("#text").press("Enter")
            answer = page.locator(".ephemeral", has_text="open alerts")
            sync_api.expect(answer).to_contain_text(alert_id[:8], timeout=5000)
            page.screenshot(path=str(SCREENSHOTS / "sandbox-page.png"))

            page.locator(".msg", has_text="97% full").first.locator(
                "select.overflow"
            ).select_option(f"silence:{alert_id}")
            modal = page.locator("form.modal")
            sync_api.expect(modal).to_contain_text("Silence alert", timeout=5000)
            modal.locator("select[name=duration]").select_option("15m")
            modal.locator("textarea[name=comment]").fill("disk swap in progress")
            page.screenshot(path=str(SCREENSHOTS / "sandbox-modal.png"))
            modal.get_by_role("button", name="Silence").click()
            sync_api.expect(modal).to_have_count(0, timeout=5000)
            sync_api.expect(page.locator(".msg", has_text="97% full").first).to_contain_text(
                "Silenced for 15m by @dana", timeout=5000
            )
        finally:
            browser.close()
    found = wait_details(alert_id, lambda d: d["alert"]["status"] == "acknowledged")
    assert found["alert"]["acknowledged_by"] == "@dana"
