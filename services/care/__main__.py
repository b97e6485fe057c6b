"""`python -m services.care`: run the care hand-off as its own process (migrations first, then the worker)."""

from services.care.agents import SERVICE, build
from services.care.bootstrap import migrate_database
from services.common.runner import run_service

if __name__ == "__main__":
    run_service(SERVICE, build, prepare=migrate_database)
