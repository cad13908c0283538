"""``python -m bench.anomaly``: anomaly detection and incident prediction on seeded synthetic
labelled data, side by side with their baselines, mean over seeds.

Detection is scored by events: consecutive flagged points (closer than an hour) make one
detection; a detection that overlaps a labelled window finds that anomaly, one that overlaps
none is a false positive. The baselines are given their best setting on the same data
(static threshold: mean ± k·sd of the first two days; rolling z-score: window of an hour or a
day, |z| ≥ k), which flatters them; the detector runs with its defaults.

Prediction trains on the first half of each tenant's stream and is scored on the second: a
note is right when a critical alert of its service follows within the horizon; a critical is
foreseen when a right note came before it; the lead is from the first right note.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from alerting.intelligence.detector import DetectorParams, params_for_step, score_series
from alerting.intelligence.prediction import (
    HORIZON,
    RiskTracker,
    train,
)
from bench.anomaly_data import DAY, STEP, AlertRecord, LabelledSeries, alert_stream, metric_series

#: The detector's default alerting threshold on the score.
SCORE_THRESHOLD = 0.5
#: Flagged points closer than this make one detection event.
MERGE_GAP = 3600.0


@dataclass
class DetectionResult:
    precision: float
    recall: float
    f1: float
    fp_per_series_day: float
    median_delay_min: float


def events_of(timestamps: np.ndarray, flags: np.ndarray) -> list[tuple[float, float]]:
    found: list[tuple[float, float]] = []
    for at in timestamps[flags]:
        if found and at - found[-1][1] <= MERGE_GAP:
            found[-1] = (found[-1][0], float(at))
        else:
            found.append((float(at), float(at)))
    return found


def evaluate(series: Sequence[LabelledSeries], flags: Sequence[np.ndarray]) -> DetectionResult:
    tp_events = fp_events = found = total = 0
    delays: list[float] = []
    days = 0.0
    for s, f in zip(series, flags, strict=True):
        days += s.days
        total += len(s.windows)
        detections = events_of(s.timestamps, f)
        hit = [False] * len(s.windows)
        for start, end in detections:
            overlapping = [
                i for i, (ws, we, _) in enumerate(s.windows) if start <= we and end >= ws
            ]
            if not overlapping:
                fp_events += 1
                continue
            tp_events += 1
            for i in overlapping:
                if not hit[i]:
                    hit[i] = True
                    delays.append(max(0.0, start - s.windows[i][0]) / 60)
        found += sum(hit)
    precision = tp_events / (tp_events + fp_events) if tp_events + fp_events else 0.0
    recall = found / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delay = float(np.median(delays)) if delays else math.nan
    return DetectionResult(precision, recall, f1, fp_events / days, delay)


def detector_flags(s: LabelledSeries) -> np.ndarray:
    params: DetectorParams = params_for_step(STEP)
    values = [None if math.isnan(v) else float(v) for v in s.values]
    scores = np.fromiter(score_series(s.timestamps.tolist(), values, params), dtype=float)
    return scores >= SCORE_THRESHOLD


def static_flags(s: LabelledSeries, k: float) -> np.ndarray:
    train_part = s.values[s.timestamps < s.timestamps[0] + 2 * DAY]
    mean, sd = np.nanmean(train_part), np.nanstd(train_part)
    flags = np.abs(s.values - mean) >= k * sd
    flags[s.timestamps < s.timestamps[0] + DAY] = False
    return np.nan_to_num(flags, nan=0).astype(bool)


def rolling_z_flags(s: LabelledSeries, k: float, window: int) -> np.ndarray:
    """|x - mean| / sd of the previous ``window`` points (never the point itself)."""
    v = s.values.copy()
    present = ~np.isnan(v)
    v0 = np.where(present, v, 0.0)
    c1 = np.concatenate([[0.0], np.cumsum(v0)])
    c2 = np.concatenate([[0.0], np.cumsum(v0 * v0)])
    cn = np.concatenate([[0], np.cumsum(present)])
    idx = np.arange(len(v))
    lo = np.maximum(0, idx - window)
    n = cn[idx] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[idx] - c1[lo]) / n
        var = (c2[idx] - c2[lo]) / n - mean * mean
        z = np.abs(v - mean) / np.sqrt(np.maximum(var, 1e-12))
    flags = (z >= k) & present & (n >= window // 2)
    flags[s.timestamps < s.timestamps[0] + DAY] = False
    return flags


def detection(seed: int, n_series: int) -> dict[str, DetectionResult]:
    rng = np.random.default_rng(seed)
    series = [metric_series(rng) for _ in range(n_series)]
    results = {"detector": evaluate(series, [detector_flags(s) for s in series])}
    best: DetectionResult | None = None
    for k in (3.0, 4.0, 5.0):
        r = evaluate(series, [static_flags(s, k) for s in series])
        best = r if best is None or r.f1 > best.f1 else best
    assert best is not None
    results["static threshold"] = best
    best = None
    for window in (12, 288):
        for k in (3.0, 4.0, 5.0, 6.0):
            r = evaluate(series, [rolling_z_flags(s, k, window) for s in series])
            best = r if best is None or r.f1 > best.f1 else best
    assert best is not None
    results["rolling z-score"] = best
    return results


@dataclass
class PredictionResult:
    precision: float
    recall: float
    median_lead_min: float
    per_day: float


def score_predictions(
    test: list[AlertRecord], notes: list[tuple[float, str]], days: float
) -> PredictionResult:
    criticals = [(r.at, r.service) for r in test if r.severity == "critical"]
    right = 0
    for at, service in notes:
        if any(service == cs and at <= ct <= at + HORIZON for ct, cs in criticals):
            right += 1
    foreseen = 0
    leads: list[float] = []
    for ct, cs in criticals:
        before = [at for at, s in notes if s == cs and ct - HORIZON <= at <= ct]
        if before:
            foreseen += 1
            leads.append((ct - min(before)) / 60)
    precision = right / len(notes) if notes else 0.0
    recall = foreseen / len(criticals) if criticals else 0.0
    lead = float(np.median(leads)) if leads else math.nan
    return PredictionResult(precision, recall, lead, len(notes) / days)


def run_predictor(records: list[AlertRecord], days: int) -> tuple[PredictionResult, list]:
    split = records[0].at + days * DAY / 2 if records else 0.0
    history = [r for r in records if r.at < split]
    test = [r for r in records if r.at >= split]
    model = train([(r.at, r.alert_type, r.severity, r.service) for r in history])
    tracker = RiskTracker(model)
    notes: list[tuple[float, str]] = []
    for r in test:
        for note in tracker.observe(r.at, r.alert_type, r.severity, r.service):
            notes.append((note.at, note.service))
    return score_predictions(test, notes, days / 2), test


def prediction(seed: int, days: int = 28) -> dict[str, PredictionResult]:
    rng = np.random.default_rng(10_000 + seed)
    records = alert_stream(rng, days=days)
    predicted, test = run_predictor(records, days)
    # Today's rule: the critical alert itself is the first word of the incident.
    baseline = score_predictions(
        test, [(r.at, r.service) for r in test if r.severity == "critical"], days / 2
    )
    null_records = alert_stream(np.random.default_rng(20_000 + seed), days=days, null=True)
    null_result, null_test = run_predictor(null_records, days)
    null_baseline = score_predictions(
        null_test, [(r.at, r.service) for r in null_test if r.severity == "critical"], days / 2
    )
    return {
        "predictor": predicted,
        "critical is the incident": baseline,
        "predictor, null control": null_result,
        "critical is the incident, null": null_baseline,
    }


def throughput() -> tuple[float, float, float]:
    """Rows a second through ``alerting anomalies score`` (in process: CSV in, CSV out), through
    the detector alone, and through a plain Python loop of one float addition a row (the same
    machine's pace, measured in the same run)."""
    from click.testing import CliRunner

    from alerting.anomalies_cli import anomalies

    timestamps: list[float] = []
    values: list[float | None] = []
    for seed in range(4):
        s = metric_series(np.random.default_rng(seed), days=28)
        offset = seed * 28 * DAY
        timestamps += [float(t) + offset for t in s.timestamps]
        values += [None if math.isnan(v) else float(v) for v in s.values]
    text = "timestamp,value\n" + "".join(
        f"{int(t)},{'' if v is None else f'{v:.3f}'}\n"
        for t, v in zip(timestamps, values, strict=True)
    )
    started = time.perf_counter()
    result = CliRunner().invoke(anomalies, ["score", "--csv", "-"], input=text)
    cli_rate = len(timestamps) / (time.perf_counter() - started)
    assert result.exit_code == 0, result.output
    started = time.perf_counter()
    for _ in score_series(timestamps, values, params_for_step(STEP)):
        pass
    detector_rate = len(timestamps) / (time.perf_counter() - started)
    started = time.perf_counter()
    total = 0.0
    for v in values:
        total += v or 0.0
    loop_rate = len(values) / (time.perf_counter() - started)
    return cli_rate, detector_rate, loop_rate


def _mean(rows: list[dict[str, object]], key: str, attr: str) -> float:
    values = [getattr(r[key], attr) for r in rows]
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _table(title: str, rows: list[dict], attrs: Sequence[tuple[str, str]]) -> None:
    print(f"\n{title}")
    names = list(rows[0])
    width = max(len(n) for n in names) + 2
    print("".ljust(width) + "".join(label.rjust(14) for _, label in attrs))
    for name in names:
        cells = "".join(f"{_mean(rows, name, attr):14.2f}" for attr, _ in attrs)
        print(name.ljust(width) + cells)


def _check(label: str, ok: bool) -> None:
    print(f"  [{'met' if ok else 'MISSED'}] {label}")


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anomaly", description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--series", type=int, default=20, help="detection series per seed")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)
    det = [detection(seed, args.series) for seed in seeds]
    _table(
        f"Detection: {args.series} series x 21 days at 5 min per seed, mean over "
        f"{args.seeds} seeds",
        det,
        [
            ("precision", "precision"),
            ("recall", "recall"),
            ("f1", "event F1"),
            ("fp_per_series_day", "FP/series-day"),
            ("median_delay_min", "delay (min)"),
        ],
    )
    pred = [prediction(seed) for seed in seeds]
    _table(
        f"Prediction: 6 services x 28 days per seed (trained on 14, scored on 14), mean over "
        f"{args.seeds} seeds",
        pred,
        [
            ("precision", "precision"),
            ("recall", "recall"),
            ("median_lead_min", "lead (min)"),
            ("per_day", "notes/day"),
        ],
    )
    rate, detector_rate, loop = throughput()
    print(
        f"\nThroughput: alerting anomalies score {rate:,.0f} rows/s (detector alone "
        f"{detector_rate:,.0f}); plain loop {loop:,.0f} rows/s (ratio {rate / loop:.4f})"
    )
    f1 = _mean(det, "detector", "f1")
    print("\nTargets")
    _check(f"detection event F1 >= 0.8: {f1:.2f}", f1 >= 0.8)
    fp = _mean(det, "detector", "fp_per_series_day")
    _check(f"<= 1 false positive per series-day: {fp:.2f}", fp <= 1)
    gain = f1 - _mean(det, "rolling z-score", "f1")
    _check(f">= 0.2 F1 above the rolling z-score: +{gain:.2f}", gain >= 0.2)
    p, r = _mean(pred, "predictor", "precision"), _mean(pred, "predictor", "recall")
    lead = _mean(pred, "predictor", "median_lead_min")
    _check(
        f"prediction precision >= 0.7 at recall >= 0.6: {p:.2f} at {r:.2f}", p >= 0.7 and r >= 0.6
    )
    _check(f"median lead >= 5 min: {lead:.1f}", lead >= 5)
    null = _mean(pred, "predictor, null control", "per_day")
    _check(f"<= 1 prediction a day on the null control: {null:.2f}", null <= 1)
    _check(f">= 20,000 rows/s through anomalies score: {rate:,.0f}", rate >= 20_000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
