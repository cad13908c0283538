"""The streaming anomaly detector: online, bounded, alarmed by spikes, calm on seasons."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.intelligence.detector import (
    Detector,
    DetectorParams,
    SeriesState,
    params_for_step,
    score_series,
)

STEP = 300.0
DAY = 86_400.0
START = 1_767_571_200.0  # a Monday, 00:00 UTC


def _seasonal(days: int, seed: int = 0) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    t = START + np.arange(int(days * DAY / STEP)) * STEP
    values = 100 + 40 * np.sin(2 * math.pi * (t % DAY) / DAY) + rng.normal(0, 3, t.size)
    return t.tolist(), values.tolist()


def _scores(t: list[float], v: list[float | None]) -> list[float]:
    return list(score_series(t, v, params_for_step(STEP)))


def test_appending_future_points_does_not_change_past_scores() -> None:
    t, v = _seasonal(4)
    v[900] += 80  # something to score
    half = len(t) // 2
    full = _scores(t, list(v))
    assert _scores(t[:half], list(v[:half])) == full[:half]
    # The future may be anything at all.
    assert _scores(t, list(v[:half]) + [1e6] * (len(v) - half))[:half] == full[:half]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=False, width=32),
            st.none(),
        ),
        min_size=1,
        max_size=400,
    )
)
def test_scores_are_between_0_and_1(values: list[float | None]) -> None:
    t = [START + i * 60.0 for i in range(len(values))]
    for score in score_series(t, values, DetectorParams(probation=5)):
        assert 0.0 <= score <= 1.0


def test_a_spike_after_probation_scores_high() -> None:
    t, v = _seasonal(3)
    at = int(2.5 * DAY / STEP)
    v[at] += 60  # 20 times the noise
    scores = _scores(t, v)
    assert scores[at] > 0.9
    assert max(scores[:at]) < 0.5


def test_a_seasonal_series_is_not_anomalous() -> None:
    t, v = _seasonal(5, seed=3)
    scores = _scores(t, v)
    probation = params_for_step(STEP).probation
    assert max(scores[probation:]) < 0.5


def test_during_probation_every_score_is_0() -> None:
    t, v = _seasonal(2)
    v[10] = 1e5
    probation = params_for_step(STEP).probation
    assert set(_scores(t, v)[:probation]) == {0.0}


def test_missing_values_and_gaps_are_not_anomalies() -> None:
    t, v = _seasonal(4, seed=5)
    values: list[float | None] = list(v)
    for i in range(600, 640):
        values[i] = None
    # Six hours without rows.
    keep = [i for i in range(len(t)) if not 800 <= i < 872]
    scores = _scores([t[i] for i in keep], [values[i] for i in keep])
    assert max(scores[params_for_step(STEP).probation :]) < 0.5


def test_a_level_shift_is_flagged_then_learned() -> None:
    t, v = _seasonal(4, seed=7)
    at = int(2.5 * DAY / STEP)
    shifted = v[:at] + [x + 40 for x in v[at:]]
    scores = _scores(t, shifted)
    assert max(scores[at : at + 6]) > 0.9
    # Some hours later the new level is the norm.
    assert max(scores[at + 48 :]) < 0.5


def test_state_survives_a_round_trip_through_json() -> None:
    t, v = _seasonal(2)
    params = params_for_step(STEP)
    one = Detector(params)
    for ti, vi in zip(t[:400], v[:400], strict=True):
        one.update(ti, vi)
    two = Detector(params, SeriesState.from_json(one.state.to_json()))
    assert [one.update(ti, vi).score for ti, vi in zip(t[400:], v[400:], strict=True)] == [
        two.update(ti, vi).score for ti, vi in zip(t[400:], v[400:], strict=True)
    ]
