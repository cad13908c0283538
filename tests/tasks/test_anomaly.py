"""Alert-stream anomalies through the real worker: a surge raises one anomaly alert, resolved
once the series is normal again."""

from __future__ import annotations

import threading
import time

from alerting import send_alert
from tests.conftest import Stack, ticking
from tests.services import wait_for

# tenant-a has anomaly detection on; the suite's settings make a bucket one second, the
# window three buckets, the probation ten and the calm that ends an episode three.
FIELDS = dict(tenant_id="tenant-a", alert_type="queue_depth", severity="warning")


def _texts(stack: Stack) -> list[str]:
    found = []
    for message in stack.sandbox.messages("#a-alerts"):
        blocks = "\n".join(b["text"]["text"] for b in message["blocks"] if b.get("text"))
        found.append(message["text"] + "\n" + blocks)
    return found


def test_a_surge_raises_one_anomaly_alert_and_it_resolves(clean: Stack) -> None:
    clean.sandbox.configure(rate_limit=False)
    with ticking("alerting.anomaly_tick", every=0.5):
        # Counting starts at the first tick, before the series' first event.
        time.sleep(1.5)
        with _trickle():
            # Probation and a few normal buckets: nothing is abnormal.
            time.sleep(16)
            assert not [t for t in _texts(clean) if "Unusual alert rate" in t]
            for _ in range(40):
                send_alert.delay(**FIELDS, message="queue depth above 1000")
            wait_for(
                lambda: [t for t in _texts(clean) if "Unusual alert rate" in t],
                timeout=20,
                what="the anomaly alert",
            )
            wait_for(
                lambda: [t for t in _texts(clean) if "back to normal" in t],
                timeout=30,
                what="the anomaly resolved",
            )
    texts = _texts(clean)
    surge = [t for t in texts if "Unusual alert rate" in t]
    assert len(surge) == 1, texts
    # In numbers, with the expectation, and linking the alert behind it.
    assert "queue_depth" in surge[0]
    assert "in 3 s; expected \u2264" in surge[0], surge[0]
    assert "/api/v1/alerts/" in surge[0]
    assert len([t for t in texts if "back to normal" in t]) == 1


class _trickle:
    """The series' usual pattern while the block runs: about one event a second."""

    def __enter__(self) -> None:
        self.stop = threading.Event()

        def run() -> None:
            while not self.stop.wait(1.0):
                send_alert.delay(**FIELDS, message="queue depth above 1000")

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(3)
