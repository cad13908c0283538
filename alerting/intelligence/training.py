"""Training incident prediction on a tenant's own history (the beat task's service)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from alerting.db.models import AlertEventRow, PredictionModelRow
from alerting.db.repositories import now
from alerting.domain.anomalies import ANOMALY_ALERT_TYPE, RISK_ALERT_TYPE
from alerting.intelligence.prediction import MIN_INCIDENTS, train

#: How far back a tenant's history is read.
HISTORY = timedelta(days=30)


def train_tenant(session: Session, tenant_id: str) -> dict[str, int]:
    """Train every service's model from the tenant's events; returns incidents per service."""
    # Only the fields training needs, not whole payloads: a month of a busy tenant.
    labels = AlertEventRow.payload["labels"]
    rows = session.execute(
        select(
            AlertEventRow.received_at,
            AlertEventRow.payload["occurred_at"].astext,
            AlertEventRow.payload["alert_type"].astext,
            AlertEventRow.payload["severity"].astext,
            func.coalesce(
                labels["service"].astext, labels["host"].astext, labels["instance"].astext, ""
            ),
        ).where(
            AlertEventRow.tenant_id == tenant_id,
            AlertEventRow.received_at >= now() - HISTORY,
            AlertEventRow.action.in_(("created", "repeated")),
            AlertEventRow.payload["alert_type"].astext.notin_(
                (ANOMALY_ALERT_TYPE, RISK_ALERT_TYPE)
            ),
        )
    ).all()
    history = [
        (_occurred(occurred, received_at).timestamp(), alert_type, severity, service)
        for received_at, occurred, alert_type, severity, service in rows
    ]
    model = train(history)
    trained = now()
    incidents: dict[str, int] = dict(model.too_little)
    for service, service_model in model.services.items():
        incidents[service] = service_model.incidents
    for service, count in incidents.items():
        trained_model = model.services.get(service)
        stmt = insert(PredictionModelRow).values(
            tenant_id=tenant_id,
            service=service,
            model=trained_model.to_json() if trained_model else None,
            incidents=count,
            trained_at=trained,
            last_risk=0.0,
        )
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["tenant_id", "service"],
                set_={
                    "model": stmt.excluded.model,
                    "incidents": stmt.excluded.incidents,
                    "trained_at": stmt.excluded.trained_at,
                },
            )
        )
    return incidents


def _occurred(stamp: object, received_at: datetime) -> datetime:
    """When the producer says it happened (history sent late keeps its order), else when it
    was received."""
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            return received_at
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return received_at


def status_rows(session: Session, tenant_id: str) -> list[tuple[str, str]]:
    """One line per service for ``alerting anomalies status``."""
    lines: list[tuple[str, str]] = []
    for row in session.scalars(
        select(PredictionModelRow)
        .where(PredictionModelRow.tenant_id == tenant_id)
        .order_by(PredictionModelRow.service)
    ):
        name = row.service or "(no service label)"
        if row.model is None:
            lines.append(
                (
                    name,
                    f"silent: too little history ({row.incidents} critical incidents in 30 days, "
                    f"needs {MIN_INCIDENTS})",
                )
            )
        else:
            lines.append(
                (
                    name,
                    f"trained on {row.incidents} critical incidents; risk now {row.last_risk:.0%}",
                )
            )
    return lines
