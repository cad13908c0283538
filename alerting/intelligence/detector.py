"""A streaming anomaly detector: one point in, one score in [0, 1] out, nothing looked ahead.

The model of a series is additive: a level with a slope (Holt), a daily profile (48 half-hour
bins) and a weekly correction (168 hour-of-week bins), each updated after the point is scored
with its residual clipped, so a spike neither moves the model nor inflates the learned spread.
The spread is an exponentially weighted mean absolute residual. The score is a logistic of the
residual in spreads; a run of same-signed large residuals is a level shift, after which the
level jumps to the new regime instead of crawling there (and scoring every point on the way).

The recursion costs a few float operations a point, so it runs in plain Python floats (faster
than numpy scalars one at a time); numpy serves the batch helpers and the bench.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Seconds in a day and a week: the two seasonal periods.
DAY = 86_400.0
WEEK = 7 * DAY
#: Bins of the daily profile (half hours) and of the weekly correction (hours of the week).
DAY_BINS = 48
WEEK_BINS = 168
#: Residual (in spreads) at which the score is one half, and the logistic's width.
SCORE_MIDPOINT = 4.5
SCORE_WIDTH = 0.7
#: Residuals are clipped at this many spreads before they update the model.
CLIP = 3.0
#: Residuals beyond this many spreads, all of one sign, count towards a level shift.
SHIFT_Z = 4.0


@dataclass
class DetectorParams:
    """How fast a series' model learns. Rates are per point; ``probation`` in points."""

    #: Points scored 0 while the model learns a first picture of the series.
    probation: int = 288
    level_rate: float = 0.03
    slope_rate: float = 0.0005
    day_rate: float = 0.08
    week_rate: float = 0.1
    spread_rate: float = 0.01
    #: Consecutive same-signed points past SHIFT_Z after which the level moves to them.
    adapt_after: int = 12
    #: Counts (alert rates): the spread never goes below Poisson-like noise of the prediction.
    counts: bool = False


@dataclass
class SeriesState:
    """Everything a series' detector knows; JSON-serialisable with :meth:`to_json`."""

    seen: int = 0
    level: float = 0.0
    slope: float = 0.0
    spread: float = 0.0
    last_t: float | None = None
    step: float | None = None
    day: list[float] = field(default_factory=lambda: [0.0] * DAY_BINS)
    day_seen: list[bool] = field(default_factory=lambda: [False] * DAY_BINS)
    week: list[float] = field(default_factory=lambda: [0.0] * WEEK_BINS)
    run: int = 0
    run_sum: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "level": self.level,
            "slope": self.slope,
            "spread": self.spread,
            "last_t": self.last_t,
            "step": self.step,
            "day": list(self.day),
            "day_seen": list(self.day_seen),
            "week": list(self.week),
            "run": self.run,
            "run_sum": self.run_sum,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesState:
        state = cls()
        for key, value in data.items():
            if hasattr(state, key):
                setattr(state, key, value)
        return state


@dataclass(frozen=True)
class Scored:
    """One point's verdict: its score and what the model expected before seeing it."""

    score: float
    expected: float
    spread: float
    zscore: float


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-(z - SCORE_MIDPOINT) / SCORE_WIDTH))


# The logistic at z = 0 is not quite 0: subtract it so a perfect prediction scores 0.
_SCORE_AT_ZERO = _logistic(0.0)


def score_of(z: float) -> float:
    """A residual in spreads (any sign) as a score in [0, 1]."""
    z = abs(z)
    if z > 40:
        return 1.0
    return max(0.0, (_logistic(z) - _SCORE_AT_ZERO) / (1.0 - _SCORE_AT_ZERO))


def zscore_for(score: float) -> float:
    """The residual in spreads that gives ``score`` (the inverse of :func:`score_of`)."""
    score = min(max(score, 1e-9), 1 - 1e-9)
    p = score * (1.0 - _SCORE_AT_ZERO) + _SCORE_AT_ZERO
    return SCORE_MIDPOINT + SCORE_WIDTH * math.log(p / (1.0 - p))


class Detector:
    """Scores one series point by point. ``update`` returns the point's score, computed from
    the state before the point, then learns from it."""

    def __init__(self, params: DetectorParams | None = None, state: SeriesState | None = None):
        self.params = params or DetectorParams()
        self.state = state or SeriesState()

    def expected_at(self, t: float) -> tuple[float, float]:
        """What the model expects at time ``t`` (seconds since the epoch), and its spread."""
        s = self.state
        steps = 0.0
        if s.last_t is not None and s.step:
            steps = max(0.0, (t - s.last_t) / s.step)
        pred = s.level + s.slope * steps
        dbin = int((t % DAY) * DAY_BINS / DAY)
        if s.day_seen[dbin]:
            pred += s.day[dbin] + s.week[int(((t + 3 * DAY) % WEEK) * WEEK_BINS / WEEK)]
        return pred, self._spread(pred)

    def _spread(self, pred: float) -> float:
        s = self.state
        spread = 1.2533 * s.spread
        if self.params.counts:
            # Counts are integers: a series that is usually 0 has a learned spread near 0, and
            # one alert must not look like a storm.
            return max(spread, 0.5 + 0.5 * math.sqrt(max(pred, 0.0)))
        return max(spread, 1e-9 * (1.0 + abs(s.level)))

    def update(self, t: float, value: float | None, pace: float = 1.0) -> Scored:
        """Score the point (t, value), then learn from it at ``pace`` times the usual rates
        (the alert-rate series learn slowly while an anomaly episode is open, so the anomaly
        does not become the norm it is measured against). A missing value scores 0."""
        s, p = self.state, self.params
        if value is None or math.isnan(value):
            return Scored(0.0, math.nan, math.nan, 0.0)
        if s.last_t is not None and t <= s.last_t:
            # Out of order or repeated timestamps: score against the model, learn nothing.
            pred, spread = self.expected_at(t)
            z = (value - pred) / spread
            return Scored(score_of(z) if s.seen >= p.probation else 0.0, pred, spread, z)
        if s.last_t is None:
            s.level, s.last_t, s.seen = value, t, 1
            return Scored(0.0, value, 0.0, 0.0)
        if s.step is None:
            s.step = t - s.last_t
        steps = (t - s.last_t) / s.step
        # A gap moves the level along its slope without learning anything from the gap.
        s.level += s.slope * steps
        s.last_t = t
        dbin = int((t % DAY) * DAY_BINS / DAY)
        wbin = int(((t + 3 * DAY) % WEEK) * WEEK_BINS / WEEK)
        if not s.day_seen[dbin]:
            # First visit of a half hour: take its offset as it is.
            s.day[dbin] = value - s.level
            s.day_seen[dbin] = True
            s.seen += 1
            return Scored(0.0, value, self._spread(value), 0.0)
        pred = s.level + s.day[dbin] + s.week[wbin]
        spread = self._spread(pred)
        residual = value - pred
        z = residual / spread
        learning = s.seen < p.probation
        score = 0.0 if learning else score_of(z)
        s.seen += 1

        # Level shift: a run of large residuals of one sign moves the level to the new regime.
        if abs(z) > SHIFT_Z and not learning:
            # The weekly correction still learns (clipped): a weekend that starts with a step
            # is learned over the weeks instead of being taken for a level shift every time.
            s.week[wbin] += pace * p.week_rate * max(-CLIP * spread, min(CLIP * spread, residual))
            if s.run == 0 or (s.run > 0) == (residual > 0):
                s.run += 1 if residual > 0 else -1
                s.run_sum += residual
            else:
                s.run, s.run_sum = (1 if residual > 0 else -1), residual
            if abs(s.run) >= p.adapt_after:
                s.level += s.run_sum / abs(s.run)
                s.run, s.run_sum = 0, 0.0
            return Scored(score, pred, spread, z)
        s.run, s.run_sum = 0, 0.0

        clipped = pace * max(-CLIP * spread, min(CLIP * spread, residual))
        fast = 3.0 if learning else 1.0
        s.level += min(0.5, p.level_rate * fast) * clipped
        s.slope += p.slope_rate * clipped
        s.day[dbin] += min(0.5, p.day_rate * fast) * clipped
        s.week[wbin] += p.week_rate * clipped
        rate = pace * min(0.2, p.spread_rate * (5.0 if learning else 1.0))
        s.spread += rate * (min(abs(residual), CLIP * spread) - s.spread)
        return Scored(score, pred, spread, z)


def params_for_step(step_seconds: float, *, probation_seconds: float = DAY) -> DetectorParams:
    """Rates for a series sampled every ``step_seconds``: the same memory in time whatever the
    sampling, and a probation of about one day (at least 60 points: the step is read from the
    first 50)."""
    per_5min = max(step_seconds, 1.0) / 300.0
    probation = max(60, int(probation_seconds / max(step_seconds, 1.0)))
    return DetectorParams(
        probation=probation,
        level_rate=min(0.3, 0.03 * per_5min),
        slope_rate=min(0.01, 0.0005 * per_5min),
        day_rate=min(0.3, 0.08 * per_5min),
        week_rate=min(0.3, 0.1 * per_5min),
        spread_rate=min(0.1, 0.01 * per_5min),
        adapt_after=max(3, int(3600 / max(step_seconds, 1.0))),
    )


def median_step(timestamps: Iterable[float], sample: int = 50) -> float:
    """The usual spacing of the first ``sample`` timestamps, in seconds (300 when unknown)."""
    first = np.fromiter(timestamps, dtype=float, count=-1)[: sample + 1]
    if first.size < 2:
        return 300.0
    deltas = np.diff(first)
    deltas = deltas[deltas > 0]
    return float(np.median(deltas)) if deltas.size else 300.0


def score_series(
    timestamps: Iterable[float],
    values: Iterable[float | None],
    params: DetectorParams | None = None,
) -> Iterator[float]:
    """Scores of a whole series, one per point, each from the points before it only."""
    detector = Detector(params)
    update = detector.update
    for t, v in zip(timestamps, values, strict=True):
        yield update(t, v).score
