"""``alerting anomalies``: backtest the detector on a CSV, and show what it learned."""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from alerting.intelligence.detector import Detector, median_step, params_for_step

#: Timestamps may be epoch seconds or ISO 8601 (naive ones are UTC).
HEADER = ["timestamp", "value"]


class CsvProblem(click.ClickException):
    pass


def _timestamp(raw: str, line: int) -> float:
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CsvProblem(
            f"line {line}: timestamp {raw!r} is neither epoch seconds nor ISO 8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _value(raw: str, line: int) -> float | None:
    if raw.strip() == "" or raw.strip().lower() in ("nan", "null", "none"):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise CsvProblem(f"line {line}: value {raw!r} is not a number") from None
    return None if math.isnan(value) else value


def read_rows(handle: TextIO) -> Iterator[tuple[str, str, float, float | None]]:
    """(raw timestamp, raw value, seconds, value) per row; a clear error for bad input."""
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != HEADER:
        raise CsvProblem(f"the header must be 'timestamp,value' (found {header!r})")
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise CsvProblem(f"line {line}: expected 2 columns (timestamp,value), got {len(row)}")
        yield row[0], row[1], _timestamp(row[0], line), _value(row[1], line)


@click.group("anomalies")
def anomalies() -> None:
    """Anomaly detection and incident prediction."""


@anomalies.command("score")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="A CSV with the header timestamp,value ('-' for standard input).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also draw the series and its scores into this PNG.",
)
def score(csv_path: Path, plot_path: Path | None) -> None:
    """Print timestamp,value,anomaly_score for every row: each score from the rows before it
    only, as the live detector would have given it."""
    if str(csv_path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = csv_path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise click.ClickException(f"--csv: cannot read {csv_path}: {exc.strerror}") from exc
    rows = list(read_rows(io.StringIO(text)))
    # The step (and so the learning rates) comes from the first rows, which are all inside
    # the probation (scored 0): no score depends on a later row.
    params = params_for_step(median_step(r[2] for r in rows[:51]))
    detector = Detector(params)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    scores: list[float] = []
    for raw_t, raw_v, t, v in rows:
        s = detector.update(t, v).score
        scores.append(s)
        writer.writerow([raw_t, raw_v, f"{s:.4f}"])
    sys.stdout.write(out.getvalue())
    if plot_path is not None:
        _plot(plot_path, [r[2] for r in rows], [r[3] for r in rows], scores)


def _plot(path: Path, times: list[float], values: list[float | None], scores: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    moments = [datetime.fromtimestamp(t, UTC) for t in times]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(12, 6), height_ratios=[3, 1])
    top.plot(moments, [math.nan if v is None else v for v in values], lw=0.8, label="value")
    flagged = [(m, v) for m, v, s in zip(moments, values, scores, strict=True) if s >= 0.5]
    if flagged:
        top.scatter(
            [m for m, _ in flagged],
            [v for _, v in flagged],
            s=12,
            c="red",
            label="score ≥ 0.5",
            zorder=3,
        )
    top.legend(loc="upper left")
    top.set_ylabel("value")
    bottom.plot(moments, scores, lw=0.8, c="darkred")
    bottom.set_ylim(0, 1.05)
    bottom.set_ylabel("anomaly score")
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise click.ClickException(f"--plot: cannot write {path}: {exc.strerror}") from exc
    finally:
        plt.close(fig)
    click.echo(f"plot written to {path}", err=True)


@anomalies.command("status")
@click.option("--tenant", "tenant_id", required=True)
def status(tenant_id: str) -> None:
    """What anomaly detection and incident prediction know about a tenant."""
    from sqlalchemy import select

    from alerting.db.models import AlertRateSeries
    from alerting.db.session import session_scope
    from alerting.domain.anomalies import series_name
    from alerting.intelligence.training import status_rows
    from alerting.sources.anomaly import enabled_tenants

    with session_scope() as session:
        enabled = {t: c for t, c, _ in enabled_tenants(session)}
        config = enabled.get(tenant_id)
        if config is None:
            click.echo(f"{tenant_id}: anomaly detection is off (anomaly_detection.enabled)")
            return
        click.echo(f"{tenant_id}: anomaly detection on, sensitivity {config.sensitivity.value}")
        series = session.scalars(
            select(AlertRateSeries)
            .where(AlertRateSeries.tenant_id == tenant_id)
            .order_by(AlertRateSeries.alert_type, AlertRateSeries.environment)
        ).all()
        click.echo(f"series watched: {len(series)}")
        for row in series:
            state = (
                "ABNORMAL since " + row.episode_since.isoformat() if row.episode_since else "normal"
            )
            learned = int(row.state.get("seen", 0))
            click.echo(
                f"  {series_name(row.alert_type, row.environment)}: {state}, score "
                f"{row.last_score:.2f}, {learned} buckets learned"
            )
        if not config.prediction.enabled:
            click.echo("incident prediction: off")
            return
        lines = status_rows(session, tenant_id)
        if not lines:
            click.echo("incident prediction: silent: not trained yet (too little history)")
        else:
            click.echo(f"incident prediction (threshold {config.prediction.threshold:.0%}):")
        for service, text in lines:
            click.echo(f"  {service}: {text}")
