"""incidents: alerts that share a cause, their members and users' corrections

Revision ID: 0012_incidents
Revises: 0010_anomaly
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_incidents"
down_revision = "0010_anomaly"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("root_cause", sa.String(length=300), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("first_member_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_member_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_tenant_last_member", "incidents", ["tenant_id", "last_member_at"])
    op.create_table(
        "incident_members",
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("incident_id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=True),
        sa.Column(
            "joined_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(
        "ix_incident_members_incident", "incident_members", ["incident_id", "occurred_at"]
    )
    op.create_table(
        "correlation_feedback",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("left_signature", sa.String(length=400), nullable=False),
        sa.Column("right_signature", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "left_signature", "right_signature"),
    )


def downgrade() -> None:
    op.drop_table("correlation_feedback")
    op.drop_index("ix_incident_members_incident", table_name="incident_members")
    op.drop_table("incident_members")
    op.drop_index("ix_incidents_tenant_last_member", table_name="incidents")
    op.drop_table("incidents")
