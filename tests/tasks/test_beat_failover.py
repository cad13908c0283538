"""Two beats, one scheduling: killing the active one mid-escalation loses and doubles no level,
and the standby takes over within its poll."""

from __future__ import annotations

import signal
import time

import pytest

from alerting import send_alert
from tests.conftest import Stack
from tests.services import ManagedProcess, cli, wait_for
from tests.tasks.helpers import all_sent, details, wait_details

#: The beats' timings in this test (seconds): the standby's poll and the escalation tick.
LOCK_POLL = 0.5
TICK = 0.5
TOOK_LOCK = "took the scheduling lock"


@pytest.mark.broker
def test_killing_the_active_beat_mid_escalation_fires_every_level_once(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    env = {
        **clean.env,
        "ALERTING_BEAT_LOCK_POLL": str(LOCK_POLL),
        "ALERTING_ESCALATION_TICK": str(TICK),
        "ALERTING_GROUP_TICK": "1",
        "ALERTING_SWEEP_INTERVAL": "2",
    }
    beats = [
        ManagedProcess(f"beat-{n}", cli("beat", "-l", "INFO"), env, clean.log_dir).start()
        for n in (1, 2)
    ]
    try:
        active = wait_for(
            lambda: next((b for b in beats if TOOK_LOCK in b.log_tail(200)), None),
            timeout=30,
            what="one beat to take the lock",
        )
        standby = next(b for b in beats if b is not active)
        time.sleep(2 * LOCK_POLL)
        assert TOOK_LOCK not in standby.log_tail(200), "two beats scheduling at once"

        started = time.time()
        event_id = send_alert.delay(
            tenant_id="tenant-a", alert_type="service_down", severity="critical", message="down"
        ).id
        # Level 1 (after 1 s) is out: kill the active beat before level 2 (after 3 s) is due.
        wait_for(lambda: clean.sandbox.messages("#a-dev"), timeout=20, what="level 1")
        active.stop(sig=signal.SIGKILL)
        killed_at = time.time()
        wait_for(lambda: TOOK_LOCK in standby.log_tail(200), timeout=10, what="the takeover")

        found = wait_details(
            event_id,
            lambda d: (
                sum(n["kind"] == "escalated" for n in d["notifications"]) == 3 and all_sent(d)
            ),
            timeout=30,
            what="level 2 after the takeover",
        )
        escalated = sorted(n["channel"] for n in found["notifications"] if n["kind"] == "escalated")
        assert escalated == ["#a-dev", "#a-mgmt", "#a-ops"]
        time.sleep(3 * TICK)
        for channel in ("#a-dev", "#a-ops", "#a-mgmt"):
            assert len(clean.sandbox.messages(channel)) == 1, channel
        levels = [e for e in details(event_id)["audit"] if e["action"] == "escalation.level"]  # type: ignore[index]
        assert [e["detail"]["level"] for e in levels] == [1, 2]
        # At most one takeover late: level 2 was due 3 s after the alert, or at the takeover
        # (the kill plus one poll, plus one tick) if that came later; a second of slack for
        # the delivery itself on a busy machine.
        (ops,) = clean.sandbox.messages("#a-ops")
        due = max(started + 3.0, killed_at + LOCK_POLL)
        assert ops["received_at"] <= due + TICK + 2.0
    finally:
        for beat in beats:
            beat.stop()
