"""The circuit breaker: a failing destination is paused, nothing is dropped, order is kept."""

from __future__ import annotations

from sqlalchemy import select

from alerting import send_alert
from alerting.db.models import Alert, Notification
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import all_sent, details, wait_details


def _opened(event_id: str) -> bool:
    found = details(event_id)
    return bool(found) and any(
        e["action"] == "notification.retry" and e["detail"].get("breaker") == "opened"
        for e in found["audit"]  # type: ignore[index]
    )


def test_failing_destination_pauses_then_flushes_in_order(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    # Three failures in a row open the breaker (ALERTING_BREAKER_FAILURES=3 in the tests).
    clean.sandbox.fault("#b-alerts", responses=[500, 500, 500])
    first = send_alert.delay(
        tenant_id="tenant-b", alert_type="t0", severity="error", message="m"
    ).id
    wait_for(lambda: _opened(first), timeout=20, what="the breaker to open")
    opened_requests = len(clean.sandbox.requests("#b-alerts"))
    later = [
        send_alert.delay(tenant_id="tenant-b", alert_type=f"t{i}", severity="error", message="m").id
        for i in range(1, 5)
    ]
    # Parked while open: Slack hears nothing more from us during the cooldown.
    wait_for(
        lambda: all(
            (d := details(i)) and d["notifications"] and d["notifications"][0]["state"] == "held"
            for i in later
        ),
        timeout=10,
        what="the later notifications to be held",
    )
    assert len(clean.sandbox.requests("#b-alerts")) == opened_requests
    for event_id in [first, *later]:
        wait_details(event_id, all_sent, timeout=30, what="everything sent after the cooldown")
    # In the order the notifications were queued (parallel workers may queue t3 before t2).
    with session_scope() as session:
        queued = session.scalars(
            select(Alert.alert_type)
            .join(Notification, Notification.alert_id == Alert.id)
            .order_by(Notification.created_at)
        ).all()
    assert queued[0] == "t0" and sorted(queued) == ["t0", "t1", "t2", "t3", "t4"]
    order = [m["text"].split()[2].rstrip(":") for m in clean.sandbox.messages("#b-alerts")]
    assert order == queued
    # No message was posted twice and no request was spent on a parked notification.
    assert len(clean.sandbox.requests("#b-alerts")) == opened_requests + 5
