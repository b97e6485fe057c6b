"""`python -m services.dashboard`: serve the ops dashboard until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError

from services.common.logging import configure_logging
from services.common.settings import CommonSettings
from services.common.stopping import arm_stop_deadline
from services.dashboard.bootstrap import serving
from services.dashboard.settings import DashboardSettings

logger = logging.getLogger("services.dashboard")


async def _serve(settings: DashboardSettings, common: CommonSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serving(settings, common):
        await stop.wait()
        arm_stop_deadline("dashboard", common.stop_deadline_s, loop)
    logger.info("dashboard stopped")


def main() -> None:
    common = CommonSettings()
    configure_logging(common.log_level, json_lines=common.log_json, service="dashboard")
    try:
        settings = DashboardSettings()
    except ValidationError as exc:
        problems = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        logger.error("dashboard refuses to start: %s", problems)
        sys.exit(2)
    asyncio.run(_serve(settings, common))


if __name__ == "__main__":
    main()
