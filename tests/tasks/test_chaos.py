"""A short ``python -m bench.chaos``: a small storm while workers, the active beat, Redis and
PostgreSQL are killed or restarted and Slack fails for a while; nothing accepted is lost."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from bench.chaos import run_chaos


@pytest.mark.broker
@pytest.mark.timeout(400)
def test_short_chaos_run_loses_nothing() -> None:
    # Services of its own (it restarts them), in a folder of its own: PostgreSQL runs as another
    # user there, and pytest's temporary folders may be pruned by other sessions meanwhile.
    folder = Path(tempfile.mkdtemp(prefix="alerting-chaos-test-"))
    try:
        result = run_chaos(
            broker=os.environ.get("ALERTING_TEST_BROKER"),
            events=45,
            storm_seconds=15,
            kill_every=4,
            settle_timeout=90,
            visibility_timeout=10,
            folder=folder,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert result.accepted == 45
    assert result.lost == 0, f"lost events accepted at {result.lost_at} s"
    assert result.stored == result.accepted
    assert result.web_api_duplicates == 0
    assert result.levels_expected > 0
    assert result.levels_fired == result.levels_expected
    assert result.levels_doubled == 0
