"""The anomaly detector and incident prediction as event sources.

One beat tick, per tenant that turned ``anomaly_detection`` on (the others cost one indexed
query for all of them): count new events into the alert-count buckets, score every series, and
raise or resolve an ``alert_rate_anomaly`` alert through ingest, so it is routed, rate-limited
and translated like any other; one alert per episode (its fingerprint is the series), resolved
when the series is calm again. Then incident prediction: the risk of each service with a
trained model, and a "risk rising" note in the escalation channel when it crosses the tenant's
threshold, again only when it rises further.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from alerting.db.models import Alert, AlertEventRow, PredictionModelRow
from alerting.db.repositories import add_notification, audit, now
from alerting.domain.anomalies import (
    ANOMALY_ALERT_TYPE,
    RISK_ALERT_TYPE,
    AnomalyConfig,
    series_name,
)
from alerting.domain.events import AlertEvent
from alerting.domain.views import NotificationKind
from alerting.intelligence.alert_rates import (
    COUNTED_ACTIONS,
    Verdict,
    count_new_events,
    floor_to,
    prune,
    score_tenant,
)
from alerting.intelligence.prediction import (
    WINDOW,
    ServiceModel,
    risk_now,
    settled,
    should_note,
)
from alerting.pipeline.ingest import ingest_event
from alerting.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "anomaly-detector"
#: Alerts linked from an anomaly message, at most.
MAX_LINKS = 3


@dataclass
class AnomalyTickResult:
    #: (tenant, event id) to route after commit.
    route: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    #: (tenant, notification id) to deliver after commit.
    deliver: list[tuple[str, uuid.UUID]] = field(default_factory=list)


def enabled_tenants(session: Session) -> list[tuple[str, AnomalyConfig, str | None]]:
    """Tenants with anomaly detection on, their config and escalation channel."""
    rows = session.execute(
        text(
            "SELECT id, config->'anomaly_detection', "
            "config->'slack_config'->>'escalation_channel' FROM tenants "
            "WHERE (config->'anomaly_detection'->>'enabled')::boolean"
        )
    ).all()
    return [(r[0], AnomalyConfig.model_validate(r[1]), r[2]) for r in rows]


def anomaly_tick(
    session: Session,
    settings: Settings,
    tenant_id: str,
    config: AnomalyConfig,
    escalation_channel: str | None,
) -> AnomalyTickResult:
    """One tenant's tick, in the caller's transaction."""
    result = AnomalyTickResult()
    current = now()
    bucket = settings.anomaly_bucket_seconds
    # The last bucket closes a little after its end: late commits of its events are counted.
    until = floor_to(current - timedelta(seconds=min(5, bucket)), bucket)
    counted_from = count_new_events(session, tenant_id, until, bucket)
    verdicts = score_tenant(
        session,
        tenant_id,
        config,
        until,
        counted_from,
        bucket_seconds=bucket,
        window=settings.anomaly_window_buckets,
        probation=settings.anomaly_probation_buckets,
        calm_needed=settings.anomaly_calm_buckets,
    )
    for verdict in verdicts:
        event_id = _raise(session, settings, tenant_id, verdict)
        if event_id is not None:
            result.route.append((tenant_id, event_id))
    if config.prediction.enabled and escalation_channel:
        result.deliver.extend(
            _predict(session, tenant_id, config.prediction.threshold, escalation_channel)
        )
    if current.minute == 0 and current.second < settings.anomaly_tick_seconds:
        prune(session, tenant_id, current)
    return result


def _window_text(settings: Settings) -> tuple[str, str]:
    seconds = settings.anomaly_bucket_seconds * settings.anomaly_window_buckets
    if seconds >= 60:
        return "minutes", str(seconds // 60)
    return "seconds", str(seconds)


def _raise(
    session: Session, settings: Settings, tenant_id: str, verdict: Verdict
) -> uuid.UUID | None:
    labels = {"series_type": verdict.alert_type}
    environment = verdict.environment or None
    since = verdict.episode_since or verdict.bucket_at
    key = f"anomaly:{verdict.alert_type}:{verdict.environment}:{since.isoformat()}"
    if verdict.change == "closed":
        event = AlertEvent(
            tenant_id=tenant_id,
            alert_type=ANOMALY_ALERT_TYPE,
            severity="warning",
            environment=environment,
            labels=labels,
            status="resolved",
            message=f"{series_name(verdict.alert_type, verdict.environment)}: back to normal",
            source=SOURCE,
            idempotency_key=f"{key}:resolved",
        )
    else:
        unit, amount = _window_text(settings)
        kind = "surge" if verdict.surge else "silence"
        bound = ("≤ " if verdict.surge else "≥ ") + str(verdict.bound)
        weekday = verdict.bucket_at.strftime("%A")
        links = _alerts_behind(session, settings, tenant_id, verdict)
        behind = ", ".join(url.rsplit("/", 1)[-1][:8] for url in links)
        message = (
            f"{series_name(verdict.alert_type, verdict.environment)}: {verdict.observed} in "
            f"{amount} {'min' if unit == 'minutes' else 's'}; expected {bound} at this hour on "
            f"a {weekday}" + (f". Alerts: {behind}" if behind else "")
        )
        annotations = {
            "kind": kind,
            "observed": str(verdict.observed),
            "bound": str(verdict.bound),
            "window_unit": unit,
            "window": amount,
            "weekday": str(verdict.bucket_at.weekday()),
            "score": f"{verdict.score:.2f}",
        }
        for index, url in enumerate(links, start=1):
            annotations[f"alert_url_{index}"] = url
        event = AlertEvent(
            tenant_id=tenant_id,
            alert_type=ANOMALY_ALERT_TYPE,
            severity="warning",
            environment=environment,
            labels=labels,
            annotations=annotations,
            message=message,
            source=SOURCE,
            idempotency_key=f"{key}:firing",
        )
    outcome = ingest_event(session, event, event_id=uuid.uuid4())
    log.info(
        "anomaly %s for %s of tenant %s (score %.2f)",
        verdict.change,
        series_name(verdict.alert_type, verdict.environment),
        tenant_id,
        verdict.score,
    )
    return outcome.event_id if outcome.needs_routing else None


def _alerts_behind(
    session: Session, settings: Settings, tenant_id: str, verdict: Verdict
) -> list[str]:
    """Links to the latest alerts of the series (the alerts behind a surge)."""
    if not verdict.surge:
        return []
    query = (
        select(Alert.id)
        .where(Alert.tenant_id == tenant_id, Alert.alert_type == verdict.alert_type)
        .order_by(Alert.last_seen_at.desc())
        .limit(MAX_LINKS)
    )
    if verdict.environment:
        query = query.where(Alert.environment == verdict.environment)
    else:
        query = query.where(Alert.environment.is_(None))
    base = settings.public_url.rstrip("/")
    return [f"{base}/api/v1/alerts/{alert_id}" for alert_id in session.scalars(query)]


def _service_of(labels: dict[str, Any]) -> str:
    return str(labels.get("service") or labels.get("host") or labels.get("instance") or "")


def _predict(
    session: Session, tenant_id: str, threshold: float, channel: str
) -> list[tuple[str, uuid.UUID]]:
    models = {
        row.service: row
        for row in session.scalars(
            select(PredictionModelRow)
            .where(PredictionModelRow.tenant_id == tenant_id, PredictionModelRow.model.isnot(None))
            .with_for_update()
        )
    }
    if not models:
        return []
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    incident_now: set[str] = set()
    for service, alert_type, severity, count in session.execute(
        text(
            """
            SELECT coalesce(payload->'labels'->>'service', payload->'labels'->>'host',
                            payload->'labels'->>'instance', ''),
                   payload->>'alert_type', payload->>'severity', count(*)
            FROM alert_events
            WHERE tenant_id = :tenant AND received_at >= :since AND action IN :actions
              -- History sent late (occurred long ago) is not happening now.
              AND coalesce((payload->>'occurred_at')::timestamptz, received_at) >= :since
              AND payload->>'alert_type' NOT IN :own
            GROUP BY 1, 2, 3
            """
        ).bindparams(
            tenant=tenant_id,
            since=now() - timedelta(seconds=WINDOW),
            actions=COUNTED_ACTIONS,
            own=(ANOMALY_ALERT_TYPE, RISK_ALERT_TYPE),
        )
    ):
        if severity == "critical":
            incident_now.add(service)
        else:
            counts[service][alert_type] = counts[service].get(alert_type, 0) + count
    notes: list[tuple[str, uuid.UUID]] = []
    for service, row in models.items():
        assert row.model is not None
        risk = risk_now(ServiceModel.from_json(row.model), dict(counts.get(service, {})))
        row.last_risk = risk.value
        if service in incident_now or settled(risk.value, threshold):
            # The incident is here, or the risk fell back: the next rise is news again.
            if row.noted_risk is not None:
                _close_notes(session, tenant_id, service)
            row.noted_risk = None
            continue
        if not should_note(risk.value, row.noted_risk, threshold):
            continue
        row.noted_risk, row.noted_at = risk.value, now()
        notification = _note(session, tenant_id, service, risk, channel)
        if notification is not None:
            notes.append((tenant_id, notification))
    return notes


def _note(
    session: Session, tenant_id: str, service: str, risk: Any, channel: str
) -> uuid.UUID | None:
    """A "risk rising" note: an info alert told in the escalation channel only, closed at once
    (a note is not something to acknowledge)."""
    top = risk.signals[0]
    reasons = "; ".join(
        f"{s.alert_type} \u00d7{s.count} in {int(WINDOW // 60)} min"
        + (f" on {service}" if service else "")
        + (f"; in the past this preceded {s.followed_by} {s.preceded} times out of {s.episodes}")
        for s in risk.signals
    )
    event = AlertEvent(
        tenant_id=tenant_id,
        alert_type=RISK_ALERT_TYPE,
        severity="info",
        labels={"service": service or "-", "risk": f"{round(risk.value * 100)}"},
        annotations={
            "risk": f"{round(risk.value * 100)}",
            "signal": top.alert_type,
            "signal_count": str(top.count),
            "window": str(int(WINDOW // 60)),
            "followed_by": top.followed_by,
            "preceded": str(top.preceded),
            "episodes": str(top.episodes),
        },
        message=f"Risk of a critical alert in the next 15 min: {round(risk.value * 100)}%. "
        + reasons,
        source="incident-prediction",
        idempotency_key=f"risk:{service}:{datetime.now(UTC).isoformat()}",
    )
    outcome = ingest_event(session, event, event_id=uuid.uuid4())
    if outcome.alert_id is None:
        return None
    session.execute(
        update(AlertEventRow).where(AlertEventRow.id == outcome.event_id).values(routed_at=now())
    )
    notification = add_notification(
        session,
        tenant_id=tenant_id,
        alert_id=outcome.alert_id,
        event_id=outcome.event_id,
        kind=NotificationKind.FIRING.value,
        channel=channel,
    )
    audit(
        session,
        tenant_id=tenant_id,
        actor="system:prediction",
        action="prediction.note",
        alert_id=outcome.alert_id,
        service=service,
        risk=risk.value,
    )
    return notification


def _close_notes(session: Session, tenant_id: str, service: str) -> None:
    """The risk fell back: the service's notes are closed quietly (they told, nothing to do)."""
    session.execute(
        update(Alert)
        .where(
            Alert.tenant_id == tenant_id,
            Alert.alert_type == RISK_ALERT_TYPE,
            Alert.status != "resolved",
            Alert.labels["service"].astext == (service or "-"),
        )
        .values(status="resolved", resolved_at=now(), resolved_by="system:prediction")
    )
