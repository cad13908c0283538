"""Seeded synthetic labelled data for ``python -m bench.anomaly``.

Detection: metric series sampled every 5 minutes with daily and weekly seasonality (some with a
nightly batch job), a trend,
a slow random-walk drift, Gaussian noise and gaps (missing rows and missing values), in which
spikes, level shifts and dropouts are planted and labelled with a window. Drift and gaps are
nuisances, not anomalies: a detector must not flag them.

Prediction: alert streams of a few services where some critical alerts are preceded, at a
varying lead, by a burst of warnings of one type; the same warnings also come in bursts that
no critical follows, and warnings of other types come at random. The null control has the
same alerts with the bursts placed independently of the criticals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

STEP = 300.0
DAY = 86_400.0
#: Monday 2026-01-05 00:00 UTC: series start on a Monday so weekends fall where expected.
START = 1_767_571_200.0


@dataclass
class LabelledSeries:
    timestamps: np.ndarray
    values: np.ndarray
    #: (start, end) in seconds: a detection inside counts for that anomaly.
    windows: list[tuple[float, float, str]] = field(default_factory=list)

    @property
    def days(self) -> float:
        return float(self.timestamps[-1] - self.timestamps[0]) / DAY


def metric_series(rng: np.random.Generator, days: int = 21) -> LabelledSeries:
    n = int(days * DAY / STEP)
    t = START + np.arange(n) * STEP
    base = rng.uniform(50, 200)
    noise_sd = rng.uniform(0.03, 0.06) * base
    phase = rng.uniform(0, 2 * math.pi)
    hour_angle = 2 * math.pi * ((t % DAY) / DAY)
    daily = rng.uniform(0.15, 0.5) * base * np.sin(hour_angle + phase)
    daily += rng.uniform(0.0, 0.15) * base * np.sin(2 * hour_angle + rng.uniform(0, 6))
    weekday = ((t - START) // DAY).astype(int) % 7
    weekend = np.where(weekday >= 5, -rng.uniform(0.0, 0.3) * base, 0.0)
    # A nightly batch job: half an hour of extra load at the same time every day, on the half
    # hour as cron jobs are (a seasonal shape, not an anomaly).
    batch = np.zeros(n)
    if rng.random() < 0.5:
        start = int(rng.integers(0, 48)) * 1800
        in_batch = ((t % DAY) >= start) & ((t % DAY) < start + 1800)
        batch[in_batch] = rng.uniform(0.3, 0.6) * base
    trend = rng.uniform(-0.15, 0.15) * base * (t - START) / (7 * DAY)
    drift = np.cumsum(rng.normal(0, 0.0015 * base, n))
    values = base + daily + weekend + batch + trend + drift + rng.normal(0, noise_sd, n)
    series = LabelledSeries(t, values)

    # Anomalies from day 3 on (one day of probation, one of settling), well apart.
    slots = rng.choice(np.arange(3 * 288, n - 48, 200), size=6, replace=False)
    kinds = ["spike", "spike", "spike", "level_shift", "dropout", "spike"]
    for at, kind in zip(sorted(slots), kinds, strict=True):
        if kind == "spike":
            width = int(rng.integers(1, 4))
            sign = 1 if rng.random() < 0.7 else -1
            values[at : at + width] += sign * rng.uniform(7, 12) * noise_sd
            series.windows.append((t[at], t[at] + 1800, kind))
        elif kind == "level_shift":
            sign = 1 if rng.random() < 0.5 else -1
            values[at:] += sign * rng.uniform(6, 10) * noise_sd
            series.windows.append((t[at], t[at] + 7200, kind))
        else:
            width = int(rng.integers(12, 37))
            values[at : at + width] = rng.uniform(0, 0.05) * base
            series.windows.append((t[at], t[at + width - 1] + STEP, kind))

    # Missing values and missing rows (gaps of 1-6 hours), never inside a labelled window.
    keep = np.ones(n, dtype=bool)
    for _ in range(3):
        gap_at = int(rng.integers(2 * 288, n - 100))
        gap = int(rng.integers(12, 73))
        if any(w[0] - 7200 <= t[gap_at] <= w[1] + 7200 for w in series.windows):
            continue
        keep[gap_at : gap_at + gap] = False
    nan_at = rng.choice(n, size=n // 200, replace=False)
    for i in nan_at:
        if not any(w[0] <= t[i] <= w[1] for w in series.windows):
            values[i] = math.nan
    series.timestamps, series.values = t[keep], values[keep]
    return series


@dataclass(frozen=True)
class AlertRecord:
    at: float
    alert_type: str
    severity: str
    service: str


def alert_stream(
    rng: np.random.Generator, *, days: int = 28, services: int = 6, null: bool = False
) -> list[AlertRecord]:
    """One tenant's alerts. With ``null``, precursor bursts are independent of criticals."""
    records: list[AlertRecord] = []
    span = days * DAY
    for index in range(services):
        service = f"svc-{index}"
        precursor = f"precursor_{index % 3}"
        critical = f"outage_{index % 3}"
        # Background warnings of other types: about one an hour each, some in small clumps.
        for noise_type in ("high_latency", "disk_usage", "gc_pause"):
            count = rng.poisson(span / 3600)
            for at in rng.uniform(0, span, count):
                records.append(AlertRecord(float(at), noise_type, "warning", service))
            for at in rng.uniform(0, span, int(days)):
                for k in range(int(rng.integers(3, 7))):
                    records.append(AlertRecord(float(at + k * 40), noise_type, "warning", service))
        # Criticals: about one every two days; three in four preceded by a precursor burst
        # starting 6-16 minutes before.
        crit_times = np.sort(rng.uniform(DAY, span, rng.poisson(days / 2)))
        bursts: list[tuple[float, float]] = []
        for at in crit_times:
            records.append(AlertRecord(float(at), critical, "critical", service))
            if rng.random() < 0.75:
                bursts.append((float(at - rng.uniform(6, 16) * 60), float(at)))
        if null:
            # Same bursts, placed at random: no relation to the criticals.
            bursts = [
                (float(s), float(s) + e - b)
                for s, (b, e) in zip(rng.uniform(DAY, span, len(bursts)), bursts, strict=True)
            ]
        # Decoys: the same bursts with no critical after them (about one in five).
        for start in rng.uniform(DAY, span, max(1, len(bursts) // 4)):
            bursts.append((float(start), float(start + rng.uniform(6, 16) * 60)))
        for start, end in bursts:
            at = start
            while at < end:
                records.append(AlertRecord(at, precursor, "warning", service))
                at += rng.uniform(30, 90)
    records.sort(key=lambda r: r.at)
    return records
