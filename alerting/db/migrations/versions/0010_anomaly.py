"""anomaly: alert-count series, their detectors' state, incident prediction models

Revision ID: 0010_anomaly
Revises: 0008_priority
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_anomaly"
down_revision = "0008_priority"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column[str]:
    return sa.Column(
        "tenant_id",
        sa.String(length=63),
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "alert_rate_buckets",
        _tenant(),
        sa.Column("alert_type", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("bucket_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "alert_type", "environment", "bucket_at"),
    )
    op.create_table(
        "alert_rate_series",
        _tenant(),
        sa.Column("alert_type", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("state", postgresql.JSONB(), nullable=False),
        sa.Column("scored_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_score", sa.Float(), nullable=False),
        sa.Column("episode_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("calm", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("tenant_id", "alert_type", "environment"),
    )
    op.create_table(
        "anomaly_cursors",
        _tenant(),
        sa.Column("counted_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "prediction_models",
        _tenant(),
        sa.Column("service", sa.String(length=200), nullable=False),
        sa.Column("model", postgresql.JSONB(), nullable=True),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_risk", sa.Float(), nullable=False),
        sa.Column("noted_risk", sa.Float(), nullable=True),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "service"),
    )
    # Counting a tenant's events by time (alert-count buckets, prediction signals).
    op.create_index("ix_alert_events_tenant_received", "alert_events", ["tenant_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_events_tenant_received", table_name="alert_events")
    op.drop_table("prediction_models")
    op.drop_table("anomaly_cursors")
    op.drop_table("alert_rate_series")
    op.drop_table("alert_rate_buckets")
