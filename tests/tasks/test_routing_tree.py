"""A tenant's routing tree, through the real worker: labels pick the channel and the mention."""

from __future__ import annotations

from alerting import send_alert
from tests.conftest import Stack
from tests.tasks.helpers import all_sent, states, wait_details

DB_GROUP = "<!subteam^S0ADBTEAM|@a-db>"


def test_a_labelled_alert_lands_in_its_routes_channel_with_the_mention(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    critical = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="replication_lag",
        severity="critical",
        message="replica <db-2> is 40s behind",
        labels={"team": "dba", "host": "db-2"},
    ).id
    found = wait_details(critical, all_sent, what="the db route's notification sent")
    # Only the route's channel: not the default or escalation channels of tenant-a.
    assert states(found) == {"#a-db": "sent"}
    assert [n["mention"] for n in found["notifications"]] == [DB_GROUP]
    (message,) = clean.sandbox.messages("#a-db")
    # tenant-a does not allow mentions in alert text, yet the operator's mention is real.
    assert f"Attention: {DB_GROUP}" in str(message["blocks"])
    assert message["text"].startswith(DB_GROUP)
    assert "replica &lt;db-2&gt; is 40s behind" in message["text"]
    # The route's escalation policy wins over tenant-a's `critical: fast`.
    started = [e for e in found["audit"] if e["action"] == "escalation.started"]
    assert [e["detail"]["policy"] for e in started] == ["db-leads"]

    warning = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="replication_lag",
        severity="warning",
        message="replica db-3 is 5s behind",
        labels={"team": "db", "host": "db-3"},
    ).id
    found = wait_details(warning, all_sent, what="the warning's notification sent")
    assert states(found) == {"#a-db": "sent"}
    # Mentions are for criticals unless the route says otherwise.
    assert [n["mention"] for n in found["notifications"]] == [None]
    later = clean.sandbox.messages("#a-db")[-1]
    assert "db-3" in later["text"] and "subteam" not in str(later)

    other = send_alert.delay(
        tenant_id="tenant-a",
        alert_type="replication_lag",
        severity="critical",
        message="web replica behind",
        labels={"team": "web"},
    ).id
    found = wait_details(other, all_sent, what="the unrouted alert's notifications sent")
    assert states(found) == {"#a-alerts": "sent", "#a-critical": "sent"}
    started = [e for e in found["audit"] if e["action"] == "escalation.started"]
    assert [e["detail"]["policy"] for e in started] == ["fast"]
