"""The address each delivery goes to, indexed, so a reply by SMS finds its customer."""

import sqlalchemy as sa
from alembic import op

revision = "0003_address"
down_revision = "0002_profiles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("address", sa.String(320)))
        batch.create_index("ix_deliveries_address", ["address"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index("ix_deliveries_address")
        batch.drop_column("address")
