"""`python -m services.notifier`: run the notifier as its own process."""

from services.common.runner import run_service
from services.notifier.agents import SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build)
