"""A service whose timer raises once it is up: the crashed app must end the process."""

from __future__ import annotations

import faust

from services.common.runner import run_service
from services.common.settings import CommonSettings
from services.common.streams import create_app


def build(common: CommonSettings) -> faust.App:
    app = create_app("crasher", common)

    @app.timer(interval=1.0)
    async def explode() -> None:
        raise RuntimeError("a bug in a timer")

    return app


if __name__ == "__main__":
    run_service("crasher", build)
