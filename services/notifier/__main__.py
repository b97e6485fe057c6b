"""`python -m services.notifier`: run the notifier as its own process (migrations first, then the worker)."""

from services.common.runner import run_service
from services.notifier.agents import SERVICE, build
from services.notifier.bootstrap import migrate_database

if __name__ == "__main__":
    run_service(SERVICE, build, prepare=migrate_database)
