"""The producer validates before anything reaches the broker."""

from __future__ import annotations

import pytest
import redis

from alerting.domain.errors import InvalidInput
from alerting.producer import send_alert
from tests.conftest import Stack

GOOD = {"tenant_id": "tenant-a", "alert_type": "high_cpu", "severity": "critical", "message": "m"}


def test_send_alert_enqueues_nothing_when_invalid(clean: Stack) -> None:
    client = redis.Redis.from_url(clean.redis_url)
    published = client.pubsub()
    before = client.llen("alerts.ingest")
    with pytest.raises(InvalidInput, match="severity"):
        send_alert.delay(**{**GOOD, "severity": "urgent"})
    with pytest.raises(InvalidInput, match="unknown field"):
        send_alert.delay(**GOOD, colour="red")
    with pytest.raises(TypeError, match="keyword arguments only"):
        send_alert.apply_async(args=("x",))
    assert client.llen("alerts.ingest") == before
    published.close()
    assert clean.sandbox.messages() == []
