"""integrations: the integration_calls outbox and the ServiceNow incident of an alert

Revision ID: 0003_integrations
Revises: 0002_routing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_integrations"
down_revision = "0002_routing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("servicenow_number", sa.String(length=40), nullable=True))
    op.add_column("alerts", sa.Column("servicenow_sys_id", sa.String(length=64), nullable=True))
    op.create_table(
        "integration_calls",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "target", "action", name="uq_integration_calls_action"),
    )
    op.create_index(
        op.f("ix_integration_calls_alert_id"), "integration_calls", ["alert_id"], unique=False
    )
    op.create_index(
        "ix_integration_calls_unfinished",
        "integration_calls",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'sending', 'retrying')"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_integration_calls_unfinished",
        table_name="integration_calls",
        postgresql_where=sa.text("state IN ('pending', 'sending', 'retrying')"),
    )
    op.drop_index(op.f("ix_integration_calls_alert_id"), table_name="integration_calls")
    op.drop_table("integration_calls")
    op.drop_column("alerts", "servicenow_sys_id")
    op.drop_column("alerts", "servicenow_number")
