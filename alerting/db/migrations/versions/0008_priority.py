"""priority: every Slack message that told an alert (slack_messages)

Revision ID: 0008_priority
Revises: 0007_quotas
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_priority"
down_revision = "0007_quotas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "notification_id", "alert_id", "kind", name="uq_slack_messages_notification"
        ),
    )
    op.create_index("ix_slack_messages_alert", "slack_messages", ["alert_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slack_messages_alert", table_name="slack_messages")
    op.drop_table("slack_messages")
