"""Escalation: due levels fire on time, exactly once, and stop the moment someone acknowledges."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from alerting import SlackAlertManager, send_alert
from alerting.domain.errors import InvalidInput
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, details, wait_details


@pytest.fixture
def beat(clean: Stack) -> Iterator[None]:
    """What `alerting beat` does for escalations: a tick every few hundred milliseconds."""
    from workers.app import app

    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.3):
            app.send_task("alerting.escalation_tick")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(2)


def _escalated(found: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (n["channel"], n["state"]) for n in found["notifications"] if n["kind"] == "escalated"
    )


def test_unacknowledged_critical_climbs_every_level_once(clean: Stack, beat: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    started = time.time()
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="service_down", severity="critical", message="api down"
    ).id
    found = wait_details(
        event_id,
        lambda d: len(_escalated(d)) == 3 and all_sent(d),
        timeout=20,
        what="both levels notified",
    )
    assert _escalated(found) == [("#a-dev", "sent"), ("#a-mgmt", "sent"), ("#a-ops", "sent")]
    (dev,) = clean.sandbox.messages("#a-dev")
    assert 1.0 <= dev["received_at"] - started < 4.0, "level 1 within seconds of its delay"
    (ops,) = clean.sandbox.messages("#a-ops")
    assert 3.0 <= ops["received_at"] - started < 6.0
    assert "oncall:primary" in str(ops["blocks"]) and "Escalation level 2" in str(ops["blocks"])
    time.sleep(1.5)
    levels = [e for e in details(event_id)["audit"] if e["action"] == "escalation.level"]  # type: ignore[index]
    assert [e["detail"]["level"] for e in levels] == [1, 2]


def test_acknowledging_stops_the_climb(clean: Stack, beat: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="critical", message="m"
    ).id
    wait_details(event_id, lambda d: _escalated(d) == [("#a-dev", "sent")], timeout=10)
    SlackAlertManager().acknowledge(event_id, by="alice")
    time.sleep(4.0)
    found = details(event_id)
    assert found is not None
    assert _escalated(found) == [("#a-dev", "sent")], "level 2 never fires"
    assert "escalation.stopped" in [e["action"] for e in found["audit"]]
    assert clean.sandbox.messages("#a-ops") == []


def test_setup_escalation_with_inline_levels(clean: Stack, beat: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-b", alert_type="x", severity="info", message="m"
    ).id
    wait_details(event_id, all_sent)
    manager = SlackAlertManager()
    with pytest.raises(InvalidInput, match=r"levels\.0\.delay"):
        manager.setup_escalation(event_id, escalation_levels=[{"delay": -5, "channels": ["#b-x"]}])
    with pytest.raises(InvalidInput, match="no policy named 'nope'"):
        manager.setup_escalation(event_id, escalation_policy="nope")
    escalation_id = manager.setup_escalation(
        alert_id=event_id,
        escalation_policy="sla-critical",
        escalation_levels=[{"delay": 0, "channels": ["#b-oncall"]}],
    )
    assert escalation_id
    assert (
        manager.setup_escalation(event_id, escalation_levels=[{"delay": 0, "channels": ["#b-x"]}])
        is None
    )
    wait_for(lambda: clean.sandbox.messages("#b-oncall"), timeout=10, what="the inline level")


def test_concurrent_ticks_notify_each_level_exactly_once(clean: Stack, beat: None) -> None:
    """Bursts of ticks on top of the regular ones, as with several beats running: FOR UPDATE
    SKIP LOCKED gives each due row to one of them."""
    from workers.app import app

    clean.sandbox.configure(rate_limit=False)
    ids = [
        send_alert.delay(
            tenant_id="tenant-a", alert_type=f"t{i}", severity="critical", message="m"
        ).id
        for i in range(20)
    ]
    # Twenty messages to one channel take twenty seconds at Slack's pace (the workers keep to
    # it even where the sandbox does not enforce it).
    for event_id in ids:
        wait_details(event_id, all_sent, timeout=60)
    for _ in range(10):
        for _ in range(6):
            app.send_task("alerting.escalation_tick")
        time.sleep(0.4)
    for event_id in ids:
        wait_details(event_id, lambda d: len(_escalated(d)) == 3 and all_sent(d), timeout=60)
    per_alert = Counter()
    for event_id in ids:
        found = details(event_id)
        assert found is not None
        per_alert[len(_escalated(found))] += 1
    assert per_alert == Counter({3: 20})
    assert len(clean.sandbox.messages("#a-ops")) == 20
