"""Escalation: due levels fire on time, exactly once, and stop the moment someone acknowledges."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerting import SyncSlackAlertManager, send_alert
from alerting.domain.errors import InvalidInput
from tests.conftest import TEST_TENANTS, Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, details, wait_details


def _escalated(found: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted(
        (n["channel"], n["state"]) for n in found["notifications"] if n["kind"] == "escalated"
    )


@pytest.mark.broker
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
    # Level 2 pages whoever the `primary` schedule has on call now, as a real mention.
    oncall = _on_call_now()
    assert f"Attention: <@{oncall}>" in str(ops["blocks"]) and "Escalation level 2" in str(
        ops["blocks"]
    )
    assert "oncall:primary" not in str(ops["blocks"])
    time.sleep(1.5)
    levels = [e for e in details(event_id)["audit"] if e["action"] == "escalation.level"]  # type: ignore[index]
    assert [e["detail"]["level"] for e in levels] == [1, 2]
    assert "oncall" not in levels[0]["detail"]
    assert levels[1]["detail"]["oncall"]["user"] == oncall
    assert levels[1]["detail"]["oncall"]["schedule"] == "primary"


def _on_call_now() -> str:
    from alerting.domain.oncall import OncallSchedule, who_is_on_call

    schedule = OncallSchedule.model_validate(
        TEST_TENANTS["tenant-a"]["oncall_schedules"]["primary"]
    )
    user = who_is_on_call(schedule, datetime.now(UTC)).user
    assert user is not None
    return user


def test_production_critical_names_the_primary_on_call(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="service_down",
        severity="critical",
        environment="production",
        message="payments down",
        labels={"service": "payments"},
    ).id
    wait_details(event_id, lambda d: any(n["state"] == "sent" for n in d["notifications"]))
    (message,) = clean.sandbox.messages("#a-critical")
    assert f"Production incident: page <@{_on_call_now()}> (on call)." in str(message["blocks"])
    # tenant-b has no schedule: the generic line, in its language (German).
    other = send_alert.delay(
        tenant_id="tenant-b",
        alert_type="service_down",
        severity="critical",
        environment="production",
        message="down",
    ).id
    wait_details(other, all_sent)
    (german,) = clean.sandbox.messages("#b-alerts")
    assert "Bereitschaft alarmieren" in str(german["blocks"])


def test_acknowledging_stops_the_climb(clean: Stack, beat: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="critical", message="m"
    ).id
    wait_details(event_id, lambda d: _escalated(d) == [("#a-dev", "sent")], timeout=10)
    SyncSlackAlertManager().acknowledge(event_id, by="alice")
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
    manager = SyncSlackAlertManager()
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


#: Alerts whose escalations fall due together in the disruption tests (two levels each).
DISRUPTED = 30


def _start_due_together(clean: Stack) -> list[str]:
    """DISRUPTED critical alerts on tenant-a: their levels fall due 1 s and 3 s after start."""
    clean.sandbox.configure(rate_limit=False)
    ids = [
        send_alert.delay(
            tenant_id="tenant-a", alert_type=f"burst{i}", severity="critical", message="m"
        ).id
        for i in range(DISRUPTED)
    ]
    wait_for(lambda: _count("SELECT count(*) FROM escalations") == DISRUPTED, timeout=20)
    return ids


def _engine() -> Any:
    """A connection pool of its own, so the disruption below never trips the checks."""
    from sqlalchemy import create_engine, pool

    return create_engine(os.environ["POSTGRES_URL"], poolclass=pool.NullPool)


def _count(query: str) -> int:
    from sqlalchemy import text

    engine = _engine()
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def _assert_every_level_fired_once() -> None:
    """Once settled: each escalation done, one `escalated` event per escalation and level,
    and every one of their notifications told: sent, or (thirty pages queueing for one
    channel's slots) folded into that channel's digest, which was sent."""
    from sqlalchemy import text

    from workers.app import app

    swept = [0.0]

    def settled() -> bool:
        if time.monotonic() - swept[0] > 2.0:
            # What beat does too: work committed but never enqueued (a process killed between
            # the commit and the publish) is the sweeper's to pick up.
            app.send_task("alerting.sweep")
            swept[0] = time.monotonic()
        try:
            done = _count("SELECT count(*) FROM escalations WHERE state = 'done'")
            sent = _count(
                "SELECT count(*) FROM notifications n WHERE kind = 'escalated' AND ("
                "state = 'sent' OR (state = 'folded' AND EXISTS (SELECT 1 FROM slack_messages m"
                " WHERE m.alert_id = n.alert_id AND m.channel = n.channel)))"
            )
        except Exception:  # the database may still be coming back
            return False
        return done == DISRUPTED and sent >= DISRUPTED * 3

    wait_for(settled, timeout=90, interval=1.0, what="every escalation to finish")
    engine = _engine()
    with engine.connect() as conn:
        fired = conn.execute(
            text(
                "SELECT e.id::text, ev.payload ->> 'level', count(ev.id) FROM escalations e "
                "LEFT JOIN alert_events ev ON ev.action = 'escalated' "
                "AND ev.payload ->> 'escalation_id' = e.id::text GROUP BY 1, 2"
            )
        ).all()
        states = dict(
            conn.execute(
                text(
                    "SELECT state, count(*) FROM notifications WHERE kind = 'escalated' "
                    "GROUP BY state"
                )
            ).all()
        )
    engine.dispose()
    per_level = Counter((level, count) for _, level, count in fired)
    assert per_level == Counter({("1", 1): DISRUPTED, ("2", 1): DISRUPTED}), per_level
    assert states.get("sent", 0) + states.get("folded", 0) == DISRUPTED * 3, states
    assert set(states) <= {"sent", "folded"}, states


def _embedded_pgdata(postgres_url: str) -> Path | None:
    """The embedded PostgreSQL's data folder when the tests run on it (its socket is in the
    URL); None for a server of POSTGRES_URL."""
    from urllib.parse import unquote

    from tests.services import ROOT

    pgdata = ROOT / ".alerting" / "test-services" / "pg"
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    socket_dir = lines[4] if len(lines) > 4 else ""
    return pgdata if socket_dir and socket_dir in unquote(postgres_url) else None


def _restart_embedded(pgdata: Path) -> None:
    import pgserver._commands as pg

    # As root, pgserver runs PostgreSQL as its own system user.
    user = "pgserver" if os.geteuid() == 0 else None
    pg.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user, timeout=60)
    # pgserver stops, at the end of the session, the postmaster it knows: tell it the new one,
    # or the restarted server would outlive the tests.
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import PostmasterInfo

    server = PostgresServer._instances.get(pgdata.resolve())
    if server is not None:
        server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata.resolve())


def test_database_going_away_mid_tick_loses_and_doubles_no_level(
    clean: Stack, beat: None, flusher: None
) -> None:
    """Every connection of the test database terminated again and again while the levels of
    many escalations fall due (in-flight transactions roll back, as in a restart), and the
    embedded PostgreSQL restarted for real: each level still fires exactly once."""
    from sqlalchemy import text

    _start_due_together(clean)
    pgdata = _embedded_pgdata(clean.postgres_url)
    killer = _engine().execution_options(isolation_level="AUTOCOMMIT")
    terminated = 0
    ends = time.monotonic() + 6.0
    restarted = False
    while time.monotonic() < ends:
        try:
            with killer.connect() as conn:
                terminated += conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
        except Exception:  # right after the restart the server may not accept yet
            pass
        if pgdata is not None and not restarted and ends - time.monotonic() < 3.5:
            # Level 2 is due about now: stop and start PostgreSQL under the running ticks.
            _restart_embedded(pgdata)
            restarted = True
        time.sleep(0.25)
    killer.dispose()
    assert terminated >= 3, "connections were in use and terminated"
    print(f"terminated {terminated} connections; embedded PostgreSQL restarted: {restarted}")
    _assert_every_level_fired_once()


def test_worker_processes_killed_mid_tick_lose_and_double_no_level(
    clean: Stack, beat: None, flusher: None
) -> None:
    """SIGKILL of every pool process, several times while levels fall due: a tick killed before
    its commit leaves its rows due (and the message is redelivered), so nothing is lost; one
    killed after it finds nothing left to do, so nothing is doubled."""
    from tests.tasks.test_delivery import _pool_children

    assert clean.worker.proc is not None
    _start_due_together(clean)
    killed = 0
    for _ in range(6):
        time.sleep(0.6)
        for pid in _pool_children(clean.worker.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    assert killed >= 6
    _assert_every_level_fired_once()
