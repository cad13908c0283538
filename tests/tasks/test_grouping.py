"""Grouping: a storm becomes one message per group, every alert accounted for, updated in place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from alerting import SyncSlackAlertManager, send_alert
from alerting.db.models import AlertGroup, AlertGroupMember
from alerting.db.session import session_scope
from tests.conftest import Stack
from tests.services import wait_for


def _texts(message: dict[str, Any]) -> str:
    parts = [message["text"]]
    for block in message["blocks"]:
        if block.get("text"):
            parts.append(block["text"]["text"])
        parts.extend(e.get("text", "") for e in block.get("elements", []))
    return "\n".join(parts)


def _told() -> tuple[int, int]:
    """(members, members told in a digest)."""
    with session_scope() as session:
        members = session.scalar(select(func.count()).select_from(AlertGroupMember)) or 0
        told = (
            session.scalar(
                select(func.count())
                .select_from(AlertGroupMember)
                .where(AlertGroupMember.told_in.is_not(None))
            )
            or 0
        )
    return members, told


def _fire(tenant: str, alert_type: str, host: str, **labels: str) -> str:
    return str(
        send_alert.delay(
            tenant_id=tenant,
            alert_type=alert_type,
            severity="warning",
            message=f"{alert_type} on {host}",
            labels={"grouped": "yes", "host": host, **labels},
        ).id
    )


def test_a_storm_becomes_one_message_per_group_and_every_alert_is_told(
    clean: Stack, flusher: None
) -> None:
    for i in range(20):
        _fire("tenant-a", "disk_full", f"db-{i:02}")
        _fire("tenant-a", "high_cpu", f"web-{i:02}")
    wait_for(lambda: _told() == (40, 40), timeout=30, what="all 40 alerts told")
    wait_for(lambda: len(clean.sandbox.messages("#a-grouped")) == 2, what="two digests")
    messages = clean.sandbox.messages("#a-grouped")
    by_type = {("disk_full" if "disk_full" in m["text"] else "high_cpu"): m for m in messages}
    assert set(by_type) == {"disk_full", "high_cpu"}
    disk = _texts(by_type["disk_full"])
    assert "20 alerts firing: alertname=disk_full" in disk
    assert "… and 10 more" in disk, "ten listed, the rest counted"
    assert "host=db-00" in disk
    # No message of its own for any grouped alert, and Slack's limit was never hit.
    assert clean.sandbox.messages("#a-alerts") == []
    assert clean.sandbox.stats()["rate_limited"] == {}


def test_late_members_and_resolutions_come_in_the_next_digest(clean: Stack, flusher: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    first = [_fire("tenant-a", "disk_full", f"db-{i}") for i in range(3)]
    wait_for(lambda: len(clean.sandbox.messages("#a-grouped")) == 1, what="the first digest")
    late = _fire("tenant-a", "disk_full", "db-9")
    wait_for(lambda: _told() == (4, 4), timeout=15, what="the late member told")
    wait_for(lambda: len(clean.sandbox.messages("#a-grouped")) == 2, what="the second digest")
    second = _texts(clean.sandbox.messages("#a-grouped")[1])
    assert "4 alerts firing" in second

    manager = SyncSlackAlertManager()
    for event_id in [*first, late]:
        alert_id = _alert_id(event_id)
        manager.resolve(alert_id, by="carol")
    wait_for(
        lambda: any(
            "All 4 alerts resolved" in m["text"] for m in clean.sandbox.messages("#a-grouped")
        ),
        timeout=15,
        what="the all-resolved digest",
    )
    # Resolutions of grouped alerts are told by the digest only: no message per alert.
    assert len(clean.sandbox.messages("#a-grouped")) == 3
    assert clean.sandbox.messages("#a-alerts") == []
    with session_scope() as session:
        assert session.scalars(select(AlertGroup.state)).all() == ["closed"]


def test_web_api_group_message_is_updated_in_place_and_new_members_go_to_its_thread(
    clean: Stack, flusher: None
) -> None:
    clean.sandbox.configure(rate_limit=False)
    for i in range(3):
        _fire("tenant-w", "service_down", f"api-{i}", cluster="eu-1")
    wait_for(lambda: len(clean.sandbox.messages("#w-grouped")) == 1, what="the group's message")
    (root,) = clean.sandbox.messages("#w-grouped")
    assert "3 alerts firing: alertname=service_down, cluster=eu-1" in root["text"]
    for i in range(3, 5):
        _fire("tenant-w", "service_down", f"api-{i}", cluster="eu-1")
    # Another cluster is another group, hence another message.
    _fire("tenant-w", "service_down", "api-x", cluster="us-1")

    def replies() -> list[dict[str, Any]]:
        return [
            m
            for m in clean.sandbox.messages("#w-grouped")
            if m["thread_ts"] == root["ts"] and m["ts"] != root["ts"]
        ]

    wait_for(replies, timeout=15, what="the new members in the thread")
    (reply,) = replies()
    assert "2 new in this group" in reply["text"] and "host=api-3" in reply["text"]
    top = next(m for m in clean.sandbox.messages("#w-grouped") if m["ts"] == root["ts"])
    assert "5 alerts firing" in top["text"], "the same message, rewritten"
    tops = [m for m in clean.sandbox.messages("#w-grouped") if m["thread_ts"] in (None, m["ts"])]
    assert len(tops) == 2 and any("cluster=us-1" in m["text"] for m in tops)


def _alert_id(event_id: str) -> str:
    from tests.tasks.helpers import details

    found = wait_for(lambda: details(event_id), what="the alert stored")
    return str(found["alert"]["id"])
