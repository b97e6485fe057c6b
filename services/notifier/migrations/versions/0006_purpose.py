"""What a ledger row is for: a message about an incident (the default) or the feedback question after one.

A feedback row holds the incident it asks about (its `incident` text) under an incident id of its own,
so no query about the incident's messages ever finds it; `incident_at` is the resolution's time."""

import sqlalchemy as sa
from alembic import op

revision = "0006_purpose"
down_revision = "0005_follow_ups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("purpose", sa.String(16), nullable=False, server_default="incident"))
        batch.create_index("ix_deliveries_customer_purpose", ["customer_id", "purpose"])


def downgrade() -> None:
    deliveries = sa.table("deliveries", sa.column("purpose", sa.String))
    op.execute(sa.delete(deliveries).where(deliveries.c.purpose != "incident"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_customer_purpose")
        batch.drop_column("purpose")
