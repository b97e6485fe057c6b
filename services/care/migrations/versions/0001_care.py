"""Care's ledger: cases (one ticket each), the notes added to them, replies heard, profiles kept."""

import sqlalchemy as sa
from alembic import op

revision = "care_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_cases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(64), nullable=False, unique=True),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("opened_by", sa.String(255), nullable=False, index=True),
        sa.Column("desk", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("ticket_id", sa.String(64)),
        sa.Column("skill", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("ticket", sa.Text, nullable=False),
        sa.Column("story_items", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.String(255)),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("store_id", "customer_id", "number", name="uq_care_case_number"),
    )
    op.create_table(
        "care_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("care_cases.id"), nullable=False, index=True),
        sa.Column("marker", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.String(255)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "care_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=False, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("in_reply_to", sa.String(64)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "care_customers",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("store_id", sa.String(128), nullable=False),
        sa.Column("first_name", sa.String(255)),
        sa.Column("last_name", sa.String(255)),
        sa.Column("locale", sa.String(35)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("care_customers")
    op.drop_table("care_replies")
    op.drop_table("care_entries")
    op.drop_table("care_cases")
