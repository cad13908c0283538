"""Tenant text on the operator's terminal is inert: no markup, escape sequences shown escaped."""

from __future__ import annotations

import subprocess

from sqlalchemy import text

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import cli
from tests.tasks.helpers import all_sent, wait_details

HOSTILE = "\x1b[31mred\x1b[0m [bold]bold[/bold] [/] \x1b]0;owned\x07 \u202eevil"


def _run(stack: Stack, *args: str) -> str:
    # Wide, so that tables show whole cells.
    env = {**stack.env, "COLUMNS": "400"}
    done = subprocess.run(cli(*args), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def _assert_inert(shown: str) -> None:
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[31mred\\x1b[0m" in shown, "escape sequences are shown escaped"
    assert "[bold]bold[/bold]" in shown and "[/]" in shown, "markup is shown as written"


def test_alerts_show_and_list_print_tenant_text_literally(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="[bold]bold[/bold] [/]"
    ).id
    found = wait_details(event_id, all_sent)
    # The edges refuse control characters now; rows stored before they did may still hold
    # escape sequences, and the terminal must be safe from those too.
    with session_scope() as session:
        session.execute(
            text("UPDATE alerts SET message = :m WHERE id = :id"),
            {"m": HOSTILE, "id": found["alert"]["id"]},
        )
    SyncSlackAlertManager().acknowledge(event_id, by="[/]")
    shown = _run(clean, "alerts", "show", event_id)
    _assert_inert(shown)
    assert "[/]" in shown.split("Audit trail")[1], "the acknowledgement by '[/]' is listed"
    listed = _run(clean, "alerts", "list", "--tenant", "tenant-a")
    assert "\x1b" not in listed


def test_silence_list_prints_a_markup_comment_literally(clean: Stack) -> None:
    _run(
        clean,
        *("silence", "add", "--tenant", "tenant-a", "--matcher", "team=db"),
        *("--duration", "1h", "--author", "[red]mallory", "--comment", "[/]"),
    )
    shown = _run(clean, "silence", "list", "--tenant", "tenant-a")
    assert "[/]" in shown and "[red]mallory" in shown
