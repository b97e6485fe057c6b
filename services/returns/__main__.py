"""`python -m services.returns`: run the returns service as its own process."""

from services.common.runner import run_service
from services.returns.agents import SERVICE, TICKS, build

if __name__ == "__main__":
    run_service(SERVICE, build, extra_topics=[TICKS])
