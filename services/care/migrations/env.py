"""Alembic environment for care's tables, versioned apart from the notifier's (`care_alembic_version`): both
may live in one database."""

from alembic import context

from services.care.ledger import Base
from services.common.migrations import run_environment

run_environment(context, Base.metadata, version_table="care_alembic_version")
