"""quotas: silence listings a page at a time, by start time

Revision ID: 0007_quotas
Revises: 0006_dead_letters
"""

from __future__ import annotations

from alembic import op

revision = "0007_quotas"
down_revision = "0006_dead_letters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keyset pagination of GET /api/v1/silences: (starts_at, id) after the cursor.
    op.create_index(
        "ix_silences_tenant_start", "silences", ["tenant_id", "starts_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_silences_tenant_start", table_name="silences")
