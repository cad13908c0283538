"""Alert-count series: counting a tenant's events into buckets, scoring every series.

The series of a tenant x alert type x environment is the number of producer events (new
alerts and repeats) per bucket (a minute), kept in ``alert_rate_buckets`` so it survives
restarts; only non-empty buckets are stored and a missing one counts 0, so a series that goes
silent is scored on its zeros. Each series' detector state is a row of ``alert_rate_series``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import AlertRateBucket, AlertRateSeries, AnomalyCursor
from alerting.domain.anomalies import AnomalyConfig
from alerting.intelligence.detector import Detector, DetectorParams, SeriesState

#: Event actions that count: producer firings (new alerts and repeats).
COUNTED_ACTIONS = ("created", "repeated")
#: At most this many buckets are replayed for a series in one tick (beat was away long).
MAX_CATCH_UP = 7 * 1440
#: Learning pace of a series while its anomaly episode is open.
EPISODE_PACE = 0.1
#: Buckets older than this are pruned.
RETENTION = timedelta(days=35)


def floor_to(moment: datetime, bucket_seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % bucket_seconds, UTC)


def count_new_events(
    session: Session, tenant_id: str, until: datetime, bucket_seconds: int
) -> datetime | None:
    """Add the tenant's events received before ``until`` (a bucket boundary) and not yet
    counted to the buckets; returns where this count started (None: nothing counted).

    An event counts in the bucket of when it occurred (the producer's stamp), so a backlog
    ingested late is not a surge; one that occurred before the buckets already counted (sent
    late, or a clock behind) counts where counting resumes, and never after it was received.

    The cursor row is locked to the end of the caller's transaction, so two ticks of one
    tenant run one after the other."""
    cursor = session.get(AnomalyCursor, tenant_id, with_for_update=True)
    if cursor is None:
        # Counting starts now: a tenant that just turned detection on has no past series.
        session.add(AnomalyCursor(tenant_id=tenant_id, counted_until=until))
        return None
    if cursor.counted_until >= until:
        return None
    since = cursor.counted_until
    session.execute(
        text(
            """
            INSERT INTO alert_rate_buckets (tenant_id, alert_type, environment, bucket_at, count)
            SELECT :tenant, payload->>'alert_type', coalesce(payload->>'environment', ''),
                   to_timestamp(floor(extract(epoch FROM least(received_at, greatest(
                       coalesce((payload->>'occurred_at')::timestamptz, received_at), :since
                   ))) / :size) * :size),
                   count(*)
            FROM alert_events
            WHERE tenant_id = :tenant AND received_at >= :since AND received_at < :until
              AND action IN :actions
            GROUP BY 2, 3, 4
            ON CONFLICT (tenant_id, alert_type, environment, bucket_at)
            DO UPDATE SET count = alert_rate_buckets.count + excluded.count
            """
        ).bindparams(
            tenant=tenant_id,
            size=bucket_seconds,
            since=since,
            until=until,
            actions=COUNTED_ACTIONS,
        ),
    )
    cursor.counted_until = until
    return floor_to(since, bucket_seconds)


@dataclass(frozen=True)
class Verdict:
    """What scoring one series found in this tick."""

    alert_type: str
    environment: str
    #: "opened", "closed" or "" (nothing changed).
    change: str
    score: float
    bucket_at: datetime
    #: Events in the last window, and the bound the model expected (≤ for a surge, ≥ for a
    #: silence).
    observed: int
    bound: int
    surge: bool
    episode_since: datetime | None


def detector_params(probation: int) -> DetectorParams:
    """Counts of the last window, every bucket: an hour or so of memory for the level, a day
    for the profile, and half a day of abnormal buckets (at one a minute) before a new level
    is the norm: a heartbeat that stopped stays an open anomaly, not the new normal in an
    hour."""
    return DetectorParams(
        probation=probation,
        level_rate=0.01,
        slope_rate=0.0,
        day_rate=0.03,
        week_rate=0.01,
        spread_rate=0.005,
        adapt_after=720,
        counts=True,
    )


def score_tenant(
    session: Session,
    tenant_id: str,
    config: AnomalyConfig,
    until: datetime,
    new_since: datetime | None,
    *,
    bucket_seconds: int,
    window: int,
    probation: int,
    calm_needed: int,
) -> list[Verdict]:
    """Score every watched series of the tenant up to ``until``; open and close episodes."""
    threshold = config.score_threshold
    params = detector_params(probation)
    step = timedelta(seconds=bucket_seconds)
    series = {
        (row.alert_type, row.environment): row
        for row in session.scalars(
            select(AlertRateSeries).where(AlertRateSeries.tenant_id == tenant_id).with_for_update()
        )
    }
    # New series: their first non-empty bucket, among those this tick counted, starts them.
    new_buckets = (
        session.execute(
            select(
                AlertRateBucket.alert_type,
                AlertRateBucket.environment,
                func.min(AlertRateBucket.bucket_at),
            )
            .where(AlertRateBucket.tenant_id == tenant_id, AlertRateBucket.bucket_at >= new_since)
            .group_by(AlertRateBucket.alert_type, AlertRateBucket.environment)
        ).all()
        if new_since is not None
        else []
    )
    for alert_type, environment, first in new_buckets:
        if (alert_type, environment) in series or not config.watches(alert_type, environment):
            continue
        row = AlertRateSeries(
            tenant_id=tenant_id,
            alert_type=alert_type,
            environment=environment,
            state=SeriesState().to_json(),
            scored_until=first,
            last_score=0.0,
            calm=0,
        )
        session.add(row)
        series[(alert_type, environment)] = row

    verdicts: list[Verdict] = []
    due = {
        key: max(row.scored_until, until - step * MAX_CATCH_UP)
        for key, row in series.items()
        if row.scored_until < until and config.watches(*key)
    }
    if not due:
        return verdicts
    # Every due series' buckets in one query: from the earliest start, one window back.
    history_from = min(due.values()) - step * (window - 1)
    buckets: dict[tuple[str, str], dict[datetime, int]] = {key: {} for key in due}
    for alert_type, environment, bucket_at, count in session.execute(
        select(
            AlertRateBucket.alert_type,
            AlertRateBucket.environment,
            AlertRateBucket.bucket_at,
            AlertRateBucket.count,
        ).where(
            AlertRateBucket.tenant_id == tenant_id,
            AlertRateBucket.bucket_at >= history_from,
            AlertRateBucket.bucket_at < until,
        )
    ):
        if (alert_type, environment) in buckets:
            buckets[(alert_type, environment)][bucket_at] = count
    for key, start in due.items():
        row, counts = series[key], buckets[key]
        detector = Detector(params, SeriesState.from_json(row.state))
        at = start
        in_window = sum(counts.get(start - step * i, 0) for i in range(1, window))
        while at < until:
            # The detector sees the count of the last `window` buckets, as the message says it.
            in_window += counts.get(at, 0)
            pace = 1.0 if row.episode_since is None else EPISODE_PACE
            scored = detector.update(at.timestamp(), float(in_window), pace)
            in_window -= counts.get(at - step * (window - 1), 0)
            verdict = _episode_step(
                row, detector, scored.score, at, counts, step, window, threshold, calm_needed
            )
            if verdict is not None:
                verdicts.append(verdict)
            row.last_score = scored.score
            at += step
        row.state = detector.state.to_json()
        row.scored_until = until
    return verdicts


def _episode_step(
    row: AlertRateSeries,
    detector: Detector,
    score: float,
    at: datetime,
    counts: dict[datetime, int],
    step: timedelta,
    window: int,
    threshold: float,
    calm_needed: int,
) -> Verdict | None:
    if row.episode_since is None:
        if score < threshold:
            return None
        row.episode_since, row.calm = at, 0
        change = "opened"
    else:
        row.calm = row.calm + 1 if score < threshold / 2 else 0
        if row.calm < calm_needed:
            return None
        change = "closed"
    observed = sum(counts.get(at - step * i, 0) for i in range(window))
    expected, spread = detector.expected_at(at.timestamp())
    expected = max(expected, 0.0)
    surge = observed >= expected
    if surge:
        bound = max(0, math.ceil(expected + 2.0 * spread))
    else:
        bound = max(1, math.floor(expected - 2.0 * spread))
    since = row.episode_since
    if change == "closed":
        row.episode_since, row.calm = None, 0
    return Verdict(
        row.alert_type, row.environment, change, score, at, observed, bound, surge, since
    )


def prune(session: Session, tenant_id: str, now: datetime) -> None:
    session.execute(
        delete(AlertRateBucket).where(
            AlertRateBucket.tenant_id == tenant_id, AlertRateBucket.bucket_at < now - RETENTION
        )
    )


def upsert_buckets(session: Session, rows: list[dict[str, object]]) -> None:
    """Write buckets directly (a backfill of history from elsewhere)."""
    if rows:
        stmt = insert(AlertRateBucket).values(rows)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "alert_type", "environment", "bucket_at"],
                set_={"count": stmt.excluded.count},
            )
        )
