"""Customer profiles, contact opt-outs, resolved incidents, and the severity of each delivery."""

import sqlalchemy as sa
from alembic import op

revision = "0002_profiles"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("store_id", sa.String(128)),
        sa.Column("first_name", sa.String(255)),
        sa.Column("email", sa.String(320)),
        sa.Column("phone", sa.String(32)),
        sa.Column("locale", sa.String(35)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("channel_preferences", sa.Text),
        sa.Column("consent", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "contact_optouts",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("address", sa.String(320), primary_key=True),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "resolved_incidents",
        sa.Column("incident_id", sa.String(128), primary_key=True),
        sa.Column("reason", sa.String(64)),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("severity", sa.String(16)))
        batch.create_index("ix_deliveries_incident_id", ["incident_id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_incident_id")
        batch.drop_column("severity")
    op.drop_table("resolved_incidents")
    op.drop_table("contact_optouts")
    op.drop_table("customer_profiles")
