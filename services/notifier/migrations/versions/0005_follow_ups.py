"""Promises and follow-ups: when each message promised the next update, and which follow-up a row is.

A follow-up is about the same incident as the message it follows, so the once-only constraint
becomes (incident, customer, channel, follow-up number); the first message is number 0."""

import sqlalchemy as sa
from alembic import op

revision = "0005_follow_ups"
down_revision = "0004_incident_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("follow_up", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_update_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("promise", sa.String(16)))
        batch.drop_constraint("uq_delivery_once", type_="unique")
        batch.create_unique_constraint("uq_delivery_once", ["incident_id", "customer_id", "channel", "follow_up"])
        batch.create_index("ix_deliveries_promise_due", ["promise", "next_update_at"])


def downgrade() -> None:
    deliveries = sa.table("deliveries", sa.column("follow_up", sa.Integer))
    op.execute(sa.delete(deliveries).where(deliveries.c.follow_up > 0))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_promise_due")
        batch.drop_constraint("uq_delivery_once", type_="unique")
        batch.create_unique_constraint("uq_delivery_once", ["incident_id", "customer_id", "channel"])
        batch.drop_column("promise")
        batch.drop_column("next_update_at")
        batch.drop_column("follow_up")
