"""flapping: fingerprints whose changes are held until they are stable

Revision ID: 0005_flapping
Revises: 0004_silences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_flapping"
down_revision = "0004_silences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flapping",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fires", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id", "fingerprint"),
    )
    op.create_index("ix_flapping_release", "flapping", ["release_at"], unique=False)
    # Counting a fingerprint's recent firings.
    op.create_index(
        "ix_alerts_tenant_fingerprint_first_seen",
        "alerts",
        ["tenant_id", "fingerprint", "first_seen_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_tenant_fingerprint_first_seen", table_name="alerts")
    op.drop_index("ix_flapping_release", table_name="flapping")
    op.drop_table("flapping")
