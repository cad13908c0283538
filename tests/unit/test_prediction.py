"""Incident prediction: trained on the tenant's own history, silent without enough of it."""

from __future__ import annotations

import itertools

from alerting.intelligence.prediction import RiskTracker, train


def _history(incidents: int) -> list[tuple[float, str, str, str]]:
    rows = []
    for i in range(incidents):
        crit = 10_000.0 + i * 20_000
        for k in range(6):
            rows.append((crit - 600 + k * 60, "replica_lag", "warning", "db-3"))
        rows.append((crit, "db_down", "critical", "db-3"))
    # Noise that precedes nothing.
    for i in range(40):
        rows.append((5_000.0 + i * 3_333, "gc_pause", "warning", "db-3"))
    return rows


def test_too_little_history_gives_no_model() -> None:
    model = train(_history(2))
    assert model.services == {}
    assert model.too_little == {"db-3": 2}


def test_a_known_precursor_raises_one_note_naming_it_and_repeats_only_when_rising() -> None:
    model = train(_history(5))
    tracker = RiskTracker(model, threshold=0.5)
    notes = []
    for k in range(8):
        notes += list(tracker.observe(500_000.0 + k * 60, "replica_lag", "warning", "db-3"))
    assert 1 <= len(notes) <= 2
    assert all(b.risk.value >= a.risk.value + 0.1 for a, b in itertools.pairwise(notes))
    top = notes[0].risk.signals[0]
    assert top.alert_type == "replica_lag"
    assert top.followed_by == "db_down"
    assert top.preceded == top.episodes == 5


def test_noise_that_preceded_nothing_raises_no_note() -> None:
    tracker = RiskTracker(train(_history(5)))
    notes = []
    for k in range(10):
        notes += list(tracker.observe(900_000.0 + k * 30, "gc_pause", "warning", "db-3"))
    assert notes == []
