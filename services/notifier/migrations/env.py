"""Alembic environment for the notifier's database (async engine, SQLite or PostgreSQL)."""

from alembic import context

from services.common.migrations import run_environment
from services.notifier.ledger import Base
from services.notifier.profiles import CustomerProfile  # noqa: F401  (registers its tables)

run_environment(context, Base.metadata)
