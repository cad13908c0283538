"""send_alert → ingest → route → deliver, run for real against a worker and the sandbox."""

from __future__ import annotations

import time

import pytest

from alerting import send_alert
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, details, states, wait_details


@pytest.mark.broker
def test_critical_alert_reaches_default_and_escalation_channels(clean: Stack) -> None:
    result = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="high_cpu",
        severity="critical",
        message="Utilisation CPU > 95%",
        labels={"host": "db-1"},
    )
    found = wait_details(result.id, all_sent, what="both notifications sent")
    assert states(found) == {"#a-alerts": "sent", "#a-critical": "sent"}
    for channel in ("#a-alerts", "#a-critical"):
        (message,) = clean.sandbox.messages(channel)
        assert "Utilisation CPU &gt; 95%" in message["text"]
        assert message["blocks"], "a Block Kit message, not plain text"
    actions = [entry["action"] for entry in found["audit"]]
    assert actions[:2] == ["alert.created", "alert.routed"]
    assert actions.count("notification.sent") == 2


def test_environment_routes_to_its_channel_and_warning_skips_escalation(clean: Stack) -> None:
    result = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="disk_full",
        severity="warning",
        message="disk 91%",
        environment="staging",
    )
    found = wait_details(result.id, all_sent)
    assert states(found) == {"#a-staging": "sent"}


def test_messages_speak_the_channels_languages(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    german = send_alert.delay(
        tenant_id="tenant-b",
        alert_type="high_cpu",
        severity="critical",
        message="CPU > 95%",
        labels={"host": "db-1"},
        environment="production",
    ).id
    bilingual = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="disk_full",
        severity="error",
        message="disk 97%",
        labels={"host": "db-2"},
        environment="staging",
    ).id
    wait_details(german, all_sent)
    wait_details(bilingual, all_sent)
    (de,) = clean.sandbox.messages("#b-alerts")
    assert (
        de["blocks"][0]["text"]["text"] == ":red_circle: KRITISCH CPU über dem Schwellwert auf db-1"
    )
    assert "*Anzahl*" in str(de["blocks"]) and "Bereitschaft alarmieren" in str(de["blocks"])
    (fr_en,) = clean.sandbox.messages("#a-staging")
    assert fr_en["blocks"][0]["text"]["text"].endswith("ERREUR Disque presque plein sur db-2")
    assert "ERROR Disk almost full on db-2" in str(fr_en["blocks"])


def test_repeats_fold_into_one_alert_with_a_count(clean: Stack) -> None:
    ids = [
        send_alert.delay(
            tenant_id="tenant-a",
            alert_type="high_cpu",
            severity="warning",
            message=f"cpu {i}",
            labels={"host": "web-1"},
        ).id
        for i in range(5)
    ]
    found = wait_details(ids[-1], lambda d: d["alert"]["count"] == 5, what="count of 5")
    assert {details(i)["alert"]["id"] for i in ids} == {found["alert"]["id"]}  # type: ignore[index]
    wait_for(lambda: all_sent(details(ids[0]) or {}), what="the first notification sent")
    time.sleep(1.0)
    assert len(clean.sandbox.messages("#a-alerts")) == 1, "a repeat must not post again"
    assert found["alert"]["message"] == "cpu 4", "the latest message is kept"


def test_same_idempotency_key_is_a_no_op(clean: Stack) -> None:
    first = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="m", idempotency_key="k-1"
    )
    found = wait_details(first.id, all_sent)
    # The producer retries (it never saw an answer): same key, new task.
    second = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="m", idempotency_key="k-1"
    )
    time.sleep(1.5)
    assert found["alert"]["count"] == 1
    assert details(second.id) is None, "the duplicate event is not stored"
    assert len(clean.sandbox.messages("#a-alerts")) == 1


@pytest.mark.broker
def test_concurrent_duplicates_store_one_event(clean: Stack) -> None:
    results = [
        send_alert.delay(
            tenant_id="tenant-a",
            alert_type="x",
            severity="info",
            message="m",
            idempotency_key="same",
        )
        for _ in range(6)
    ]
    wait_for(lambda: any(details(r.id) for r in results), what="one stored event")
    time.sleep(1.5)
    stored = [r.id for r in results if details(r.id)]
    assert len(stored) == 1
    assert details(stored[0])["alert"]["count"] == 1  # type: ignore[index]


def test_other_labels_make_another_alert(clean: Stack) -> None:
    one = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="m", labels={"host": "a"}
    )
    two = send_alert.delay(
        tenant_id="tenant-a", alert_type="x", severity="info", message="m", labels={"host": "b"}
    )
    first = wait_details(one.id, all_sent)
    second = wait_details(two.id, all_sent)
    assert first["alert"]["id"] != second["alert"]["id"]


def test_tenant_webhook_is_used_and_never_shown(clean: Stack) -> None:
    result = send_alert.delay(tenant_id="tenant-b", alert_type="x", severity="error", message="m")
    found = wait_details(result.id, all_sent)
    (message,) = clean.sandbox.messages("#b-alerts")
    assert message["webhook_path"] == "T0B/B0B/tenant-b"
    assert "T0B/B0B" not in str(found), "the tenant's webhook URL must not leak into details"


def test_a_channel_with_its_own_webhook_uses_it(clean: Stack) -> None:
    result = send_alert.delay(
        tenant_id="tenant-b", alert_type="x", severity="error", message="m", environment="ops"
    )
    wait_details(result.id, all_sent)
    (message,) = clean.sandbox.messages("#b-ops")
    assert message["webhook_path"] == "T0B/B0C/b-ops"


def test_tenant_secrets_are_encrypted_at_rest(clean: Stack) -> None:
    from sqlalchemy import text

    from alerting.db.session import session_scope

    with session_scope() as session:
        stored = session.execute(
            text("SELECT config::text FROM tenants WHERE id = 'tenant-b'")
        ).scalar_one()
    assert "T0B/B0B" not in stored and "T0B/B0C" not in stored and "$encrypted" in stored


def test_unknown_tenant_is_refused_by_the_worker(clean: Stack) -> None:
    from alerting.domain.events import AlertEvent
    from alerting.producer import publish_event
    from workers.app import app

    event = AlertEvent(tenant_id="nobody", alert_type="x", severity="info", message="m")  # type: ignore[arg-type]
    result = publish_event(event)
    # Its tenant's queue has no consumer: the sweeper hands it to the shared ingest queue.
    time.sleep(0.5)
    assert "unknown tenant 'nobody'" not in clean.worker.log_tail(200)
    app.send_task("alerting.sweep")
    wait_for(
        lambda: "unknown tenant 'nobody'" in clean.worker.log_tail(200),
        what="the event refused by ingest",
    )
    assert details(result.id) is None


@pytest.mark.parametrize("severity", ["high", "CRIT", "p1"])
def test_aliases_become_critical(clean: Stack, severity: str) -> None:
    result = send_alert.delay(tenant_id="tenant-a", alert_type="x", severity=severity, message="m")
    found = wait_details(result.id, lambda d: d["alert"]["severity"] == "critical")
    assert found["alert"]["severity"] == "critical"
