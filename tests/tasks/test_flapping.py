"""Flapping: an alert that fires and resolves again and again is marked, held, then told once."""

from __future__ import annotations

from typing import Any

from alerting import send_alert
from tests.conftest import Stack
from tests.services import wait_for
from tests.tasks.helpers import wait_details

# tenant-b: flapping past 3 firings within 10 minutes, stable after 2 quiet seconds; German.
FIELDS: dict[str, Any] = dict(
    tenant_id="tenant-b", alert_type="service_down", severity="error", labels={"svc": "api"}
)


def _posted(stack: Stack) -> list[str]:
    return [m["text"] for m in stack.sandbox.messages("#b-alerts")]


def _texts(stack: Stack) -> list[str]:
    found = []
    for message in stack.sandbox.messages("#b-alerts"):
        found.append("\n".join(b["text"]["text"] for b in message["blocks"] if b.get("text")))
    return found


def _step(stack: Stack, status: str, message: str) -> None:
    """Send one change and wait until it took effect (workers take events in any order)."""
    event_id = send_alert.delay(
        **FIELDS, message=message, **({"status": "resolved"} if status == "resolved" else {})
    ).id
    wait_details(event_id, lambda d: d["alert"]["status"] == status, what=f"{status}: {message}")


def _fire_and_resolve(stack: Stack, times: int, *, resolve_last: bool = True) -> None:
    for i in range(times):
        _step(stack, "firing", f"api down {i}")
        if i < times - 1 or resolve_last:
            _step(stack, "resolved", f"api up {i}")


def test_flapping_alert_is_marked_held_and_told_once_it_is_stable(
    clean: Stack, flusher: None
) -> None:
    clean.sandbox.configure(rate_limit=False)
    # Three fire/resolve cycles are normal: six messages.
    _fire_and_resolve(clean, 3)
    wait_for(lambda: len(_posted(clean)) == 6, timeout=30, what="three cycles told")
    # The fourth firing within the window is flapping: posted, marked.
    _step(clean, "firing", "api down again")
    wait_for(lambda: len(_posted(clean)) == 7, what="the flapping firing")
    assert "Flattert: 4 Mal" in _texts(clean)[-1]
    # Its next changes are held: nothing more is posted while it keeps flapping...
    _step(clean, "resolved", "api up")
    _step(clean, "firing", "api down once more")
    _step(clean, "resolved", "api up at last")
    # ...until it has been quiet for two seconds: then one message tells where it settled.
    wait_for(
        lambda: any("Wieder stabil" in t for t in _texts(clean)),
        timeout=20,
        what="the settled state told",
    )
    texts = _texts(clean)
    assert len(texts) == 8, texts
    assert "3 Änderungen" in texts[-1]
    assert clean.sandbox.messages("#b-alerts")[-1]["attachments"][0]["color"] == "#2E7D32"


def test_a_few_cycles_are_not_flapping(clean: Stack, flusher: None) -> None:
    clean.sandbox.configure(rate_limit=False)
    _fire_and_resolve(clean, 3, resolve_last=False)
    wait_for(lambda: len(_posted(clean)) == 5, what="every change told")
    assert not any("Flattert" in t for t in _texts(clean))
