"""Incident prediction through the real worker: trained on the tenant's own history, silent
(and saying so) without enough of it, one "risk rising" note in the escalation channel."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from alerting import send_alert
from alerting.cli import main
from alerting.db.models import AlertEventRow, PredictionModelRow
from alerting.db.session import session_scope
from tests.conftest import Stack, ticking
from tests.services import wait_for

DB = {"service": "db-3"}


def _trained(incidents: int) -> bool:
    with session_scope() as session:
        row = session.scalars(
            select(PredictionModelRow).where(
                PredictionModelRow.tenant_id == "tenant-a", PredictionModelRow.service == "db-3"
            )
        ).first()
        return row is not None and row.incidents == incidents


def _ingested(count: int) -> bool:
    with session_scope() as session:
        stored = session.scalar(
            select(func.count()).where(
                AlertEventRow.tenant_id == "tenant-a",
                AlertEventRow.action.in_(("created", "repeated")),
                AlertEventRow.payload["labels"]["service"].astext == "db-3",
            )
        )
        return stored == count


def _status() -> str:
    return CliRunner().invoke(main, ["anomalies", "status", "--tenant", "tenant-a"]).output


def _notes(stack: Stack) -> list[str]:
    found = []
    for message in stack.sandbox.messages("#a-critical"):
        if "Risk rising" in message["text"]:
            blocks = "\n".join(b["text"]["text"] for b in message["blocks"] if b.get("text"))
            found.append(blocks)
    return found


def _history(incidents: int, first: int = 0) -> None:
    """Past incidents of db-3: replica_lag warnings, then db_down, a few hours apart."""
    now = datetime.now(UTC)
    for i in range(first, first + incidents):
        crash = now - timedelta(hours=2 * (i + 1))
        for minutes in (9, 7, 5, 3):
            send_alert.delay(
                tenant_id="tenant-a",
                alert_type="replica_lag",
                severity="warning",
                labels=DB,
                message="replica lag 40s",
                occurred_at=(crash - timedelta(minutes=minutes)).isoformat(),
            )
        send_alert.delay(
            tenant_id="tenant-a",
            alert_type="db_down",
            severity="critical",
            labels={**DB, "incident": str(i)},
            message="db-3 down",
            occurred_at=crash.isoformat(),
        )


def test_prediction_is_silent_without_history_then_notes_a_rising_risk_once(
    clean: Stack,
) -> None:
    from workers.app import app

    clean.sandbox.configure(rate_limit=False)
    _history(2)
    wait_for(lambda: _ingested(10), what="two incidents' history stored")
    app.send_task("alerting.prediction_train")
    wait_for(lambda: _trained(2), timeout=20, what="training on two incidents")
    assert "too little history (2 critical incidents" in _status()

    _history(3, first=2)
    wait_for(lambda: _ingested(25), what="five incidents' history stored")
    app.send_task("alerting.prediction_train")
    wait_for(lambda: _trained(5), timeout=20, what="training on five incidents")
    assert "trained on 5 critical incidents" in _status()

    with ticking("alerting.anomaly_tick", every=0.5):
        for _ in range(4):
            send_alert.delay(
                tenant_id="tenant-a",
                alert_type="replica_lag",
                severity="warning",
                labels=DB,
                message="replica lag 40s",
            )
        wait_for(lambda: _notes(clean), timeout=20, what="a risk rising note")
        # More of the same at the same risk: no second note.
        for _ in range(2):
            send_alert.delay(
                tenant_id="tenant-a",
                alert_type="replica_lag",
                severity="warning",
                labels=DB,
                message="replica lag 40s",
            )
        wait_for(lambda: "risk now" in _status(), what="the status")
        time.sleep(3)
    notes = _notes(clean)
    assert len(notes) == 1, notes
    assert "replica_lag \u00d74 in 10 min on db-3" in notes[0]
    assert "preceded db_down 5 times out of 5" in notes[0]
