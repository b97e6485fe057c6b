"""The event time of each delivery's incident, so coalescing compares event time with event time.

Rows written before it get their incident's `detected_at` from the incident event they hold;
a row without one keeps its creation time, the best that is known of it."""

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from services.common.db import UtcDateTime

revision = "0004_incident_at"
down_revision = "0003_address"
branch_labels = None
depends_on = None

BATCH = 500


def _detected_at(incident: str | None) -> datetime | None:
    try:
        value = json.loads(incident or "")["data"]["detected_at"]
        at = datetime.fromisoformat(value)
    except (ValueError, KeyError, TypeError):
        return None
    return at if at.tzinfo is not None else None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("incident_at", sa.DateTime(timezone=True)))
    deliveries = sa.table(
        "deliveries", sa.column("id", sa.Integer), sa.column("incident", sa.Text),
        sa.column("created_at", UtcDateTime()), sa.column("incident_at", UtcDateTime()),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(deliveries.c.id, deliveries.c.incident, deliveries.c.created_at)
                              .where(deliveries.c.incident_at.is_(None))).fetchall()
    update = sa.update(deliveries).where(deliveries.c.id == sa.bindparam("row_id")).values(
        incident_at=sa.bindparam("at", type_=UtcDateTime()))
    for start in range(0, len(rows), BATCH):
        connection.execute(update, [{"row_id": row.id, "at": _detected_at(row.incident) or row.created_at}
                                    for row in rows[start:start + BATCH]])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("incident_at")
