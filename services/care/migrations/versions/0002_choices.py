"""Choices the customer made (`choice.made`), for the story."""

import sqlalchemy as sa
from alembic import op

revision = "care_0002"
down_revision = "care_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_choices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False, index=True),
        sa.Column("incident_id", sa.String(128), nullable=False),
        sa.Column("order_label", sa.String(128)),
        sa.Column("choice", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("care_choices")
