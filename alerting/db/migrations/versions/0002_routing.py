"""routing tree: the mention a route adds to a firing notification

Revision ID: 0002_routing
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_routing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("mention", sa.String(length=400), nullable=True))


def downgrade() -> None:
    op.drop_column("notifications", "mention")
