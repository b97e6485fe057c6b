"""The delivery ledger."""

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.String(64), nullable=False, unique=True),
        sa.Column("incident_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False, index=True),
        sa.Column("order_id", sa.String(128), index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.String(255)),
        sa.Column("provider", sa.String(32)),
        sa.Column("provider_message_id", sa.String(128), index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), index=True),
        sa.Column("body", sa.Text),
        sa.Column("subject", sa.String(255)),
        sa.Column("incident", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("incident_id", "customer_id", "channel", name="uq_delivery_once"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
