"""`python -m services.order_watcher`: run the order watcher as its own process."""

from services.common.runner import run_service
from services.order_watcher.agents import INTERNAL_TOPICS, SERVICE, build

if __name__ == "__main__":
    run_service(SERVICE, build, extra_topics=INTERNAL_TOPICS)
