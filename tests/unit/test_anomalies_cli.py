"""``alerting anomalies score``: a backtest on the user's own CSV, and the tenant block."""

from __future__ import annotations

import csv
import io
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from alerting.domain.anomalies import AnomalyConfig, Sensitivity
from alerting.domain.errors import InvalidInput
from alerting.domain.tenants import parse_tenant
from tests.services import ROOT, cli

DAY = 86_400


def _series(rows: int, spike_at: int | None = None) -> str:
    noise = np.random.default_rng(4).normal(0, 2, rows)
    out = ["timestamp,value"]
    for i in range(rows):
        t = 1_767_571_200 + i * 300
        value = 100 + 30 * math.sin(2 * math.pi * (t % DAY) / DAY) + noise[i]
        if i == spike_at:
            value += 200
        out.append(f"{t},{'' if i == 50 else round(value, 3)}")
    return "\n".join(out) + "\n"


def score(tmp_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "series.csv"
    path.write_text(text)
    return subprocess.run(
        cli("anomalies", "score", "--csv", str(path), *extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _scores(output: str) -> list[float]:
    return [float(r["anomaly_score"]) for r in csv.DictReader(io.StringIO(output))]


def test_one_row_out_per_row_in_and_the_spike_stands_out(tmp_path: Path) -> None:
    spike = 3 * 288
    done = score(tmp_path, _series(4 * 288, spike_at=spike), "--plot", str(tmp_path / "p.png"))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["timestamp", "value", "anomaly_score"]
    assert len(rows) == 4 * 288
    assert rows[50]["value"] == ""  # a missing value is kept as it was
    scores = _scores(done.stdout)
    assert all(0 <= s <= 1 for s in scores)
    assert scores[spike] > 0.9
    assert max(scores[:spike]) < 0.5
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_no_look_ahead_a_shorter_file_scores_the_same(tmp_path: Path) -> None:
    full = _scores(score(tmp_path, _series(3 * 288, spike_at=2 * 288)).stdout)
    head = _scores(score(tmp_path, _series(2 * 288 + 1, spike_at=2 * 288)).stdout)
    assert head == full[: len(head)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("time,value\n1,2\n", "the header must be 'timestamp,value'"),
        ("timestamp,value\n1,abc\n", "line 2: value 'abc' is not a number"),
        ("timestamp,value\nyesterday,1\n", "line 2: timestamp 'yesterday'"),
        ("timestamp,value\n1,2,3\n", "line 2: expected 2 columns"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    done = score(tmp_path, text)
    assert done.returncode != 0
    assert reason in done.stderr
    assert "Traceback" not in done.stderr


def test_iso_timestamps_are_read(tmp_path: Path) -> None:
    done = score(tmp_path, "timestamp,value\n2026-01-05T00:00:00Z,1\n2026-01-05T00:05:00,2\n")
    assert done.returncode == 0, done.stderr
    assert _scores(done.stdout) == [0.0, 0.0]


def test_tenant_block_validated_by_key_path() -> None:
    base = {"tenant_id": "shop", "name": "Shop", "slack_config": {"default_channel": "#a"}}
    config = parse_tenant(
        {**base, "anomaly_detection": {"enabled": True, "sensitivity": "high"}}, where="shop"
    ).anomaly_detection
    assert config.enabled and config.sensitivity is Sensitivity.HIGH
    with pytest.raises(InvalidInput) as caught:
        parse_tenant({**base, "anomaly_detection": {"sensitivity": "extreme"}}, where="shop")
    assert "anomaly_detection.sensitivity" in str(caught.value)


def test_ignored_series() -> None:
    config = AnomalyConfig(enabled=True, ignore=["heartbeat", "*/staging", "disk_*/prod"])
    assert not config.watches("heartbeat", "production")
    assert not config.watches("high_cpu", "staging")
    assert not config.watches("disk_full", "prod")
    assert config.watches("disk_full", "production")
    assert config.watches("high_cpu", "")
    assert not config.watches("alert_rate_anomaly", "")
