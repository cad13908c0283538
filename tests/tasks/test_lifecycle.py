"""firing → acknowledged → resolved, from the manager, the producer, the CLI and HTTP."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from alerting import SlackAlertManager, SyncSlackAlertManager, send_alert
from alerting.pipeline.lifecycle import AlertNotFound, InvalidTransition
from tests.conftest import Stack
from tests.services import cli
from tests.tasks.helpers import all_sent, details, wait_details


def _kinds(found: dict) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((n["kind"], n["state"]) for n in found["notifications"])


def test_acknowledge_then_resolve_notify_the_same_channels(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="service_down", severity="critical", message="api down"
    ).id
    wait_details(event_id, all_sent)
    manager = SyncSlackAlertManager()
    state = manager.acknowledge(event_id, by="alice")
    assert (state.status, state.changed) == ("acknowledged", True)
    assert manager.acknowledge(event_id, by="bob").changed is False
    manager.resolve(state.alert_id, by="alice")
    found = wait_details(event_id, lambda d: len(d["notifications"]) == 6 and all_sent(d))
    assert found["alert"]["status"] == "resolved"
    assert found["alert"]["acknowledged_by"] == "alice"
    texts = [m["text"] for m in clean.sandbox.messages("#a-critical")]
    assert len(texts) == 3
    assert "Acknowledged by alice" in texts[1] and texts[2].startswith(
        ":white_check_mark: Resolved"
    )
    actions = [
        (e["actor"], e["action"]) for e in found["audit"] if e["action"].startswith("alert.")
    ]
    assert ("alice", "alert.acknowledged") in actions and ("alice", "alert.resolved") in actions
    with pytest.raises(InvalidTransition, match="already resolved"):
        manager.acknowledge(event_id, by="carol")


def test_producer_resolution_resolves_the_firing_alert(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    fields = dict(
        tenant_id="tenant-a", alert_type="disk_full", severity="warning", labels={"host": "db-2"}
    )
    first = send_alert.delay(**fields, message="disk 95%").id
    wait_details(first, all_sent)
    send_alert.delay(**fields, message="disk 60%", status="resolved")
    found = wait_details(
        first,
        lambda d: (
            d["alert"]["status"] == "resolved" and len(d["notifications"]) == 2 and all_sent(d)
        ),
    )
    assert found["alert"]["resolved_by"] == "producer:unknown"
    # A new firing after resolution opens a new alert.
    again = send_alert.delay(**fields, message="disk 97%").id
    reopened = wait_details(again, all_sent)
    assert reopened["alert"]["id"] != found["alert"]["id"]


def test_resolution_of_nothing_is_recorded_and_silent(clean: Stack) -> None:
    event_id = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="ok", status="resolved"
    ).id
    import time

    time.sleep(1.5)
    assert details(event_id) is None
    assert clean.sandbox.messages() == []


def test_the_original_async_api(clean: Stack) -> None:
    manager = SlackAlertManager()
    # From plain code, asyncio.run drives each method like any coroutine.
    event_id = asyncio.run(
        manager.send_alert(
            tenant_id="tenant-a",
            alert_type="high_cpu",
            # Not critical: tenant-a's critical alerts start an escalation of their own.
            severity="warning",
            message="Utilisation CPU > 95%",
        )
    )

    async def main() -> tuple[str | None, str]:
        # The id send_alert returned, at once: the manager waits for the worker to store it.
        escalation_id = await manager.setup_escalation(
            event_id, escalation_levels=[{"delay": 3600, "channels": ["#a-critical"]}]
        )
        await asyncio.to_thread(wait_details, event_id, all_sent)
        state = await manager.acknowledge(event_id, by="async-user")
        return escalation_id, state.status

    escalation_id, status = asyncio.run(main())
    assert escalation_id
    assert status == "acknowledged"
    found = details(event_id)
    assert found is not None
    assert "escalation.started" in [e["action"] for e in found["audit"]]


def test_cli_send_ack_resolve_show(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)

    def run(*args: str) -> str:
        done = subprocess.run(cli(*args), env=clean.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    event_id = run(
        "send",
        "--tenant",
        "tenant-a",
        "--type",
        "high_cpu",
        "--severity",
        "critical",
        "--message",
        "CPU > 95%",
        "--label",
        "host=web-3",
        "--env",
        "staging",
    )
    found = wait_details(event_id, all_sent)
    assert {n["channel"] for n in found["notifications"]} == {"#a-staging", "#a-critical"}
    assert "acknowledged" in run("ack", event_id, "--by", "ops")
    assert "resolved" in run("resolve", event_id)
    shown = run("alerts", "show", event_id)
    for expected in (
        "high_cpu",
        "resolved",
        "#a-staging",
        "alert.acknowledged",
        "notification.sent",
    ):
        assert expected in shown
    bad = subprocess.run(
        cli(
            "send", "--tenant", "tenant-a", "--type", "x", "--severity", "urgent", "--message", "m"
        ),
        env=clean.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        bad.returncode == 2
        and "severity" in bad.stderr
        and "'urgent' is not a severity" in bad.stderr
    )
    missing = subprocess.run(
        cli("ack", "00000000-0000-0000-0000-000000000000"),
        env=clean.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no alert" in missing.stderr


def test_cli_refuses_an_unknown_tenant_at_once(clean: Stack) -> None:
    args = ("--type", "x", "--severity", "info", "--message", "m")
    done = subprocess.run(
        cli("send", "--tenant", "nope", *args),
        env=clean.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "unknown tenant 'nope'" in done.stderr and "tenant-a, tenant-b" in done.stderr
    # A producer with only REDIS_URL cannot tell: the event is queued, and the worker refuses it.
    producer_env = {k: v for k, v in clean.env.items() if k != "POSTGRES_URL"}
    queued = subprocess.run(
        cli("send", "--tenant", "nope", *args),
        env={**producer_env, "ALERTING_DATA_DIR": clean.env["ALERTING_DATA_DIR"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.strip()


def test_unknown_alert(clean: Stack) -> None:
    with pytest.raises(AlertNotFound):
        SyncSlackAlertManager().resolve("not-an-id", by="x")
    with pytest.raises(ValueError, match="by:"):
        SyncSlackAlertManager().resolve("not-an-id", by=" ")
