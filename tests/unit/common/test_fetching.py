"""The broker's fetch wait: every Faust worker consumer asks for ours, not Faust's hard-coded 1.5 s."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.unit


def _worker_consumer(app: Any) -> Any:
    thread = app.consumer._thread  # Faust's consumer thread of the aiokafka driver
    return thread._create_worker_consumer(app.transport)


@pytest.mark.parametrize("wait_ms", [100, 250])
async def test_worker_consumers_wait_at_most_the_setting(wait_ms: int) -> None:
    app = create_app("fetch-test", CommonSettings(topic_prefix="unit-", fetch_max_wait_ms=wait_ms))
    consumer = _worker_consumer(app)
    try:
        assert consumer._fetch_max_wait_ms == wait_ms  # the value the fetcher is built with at start
    finally:
        await consumer.stop()  # never started: only releases what the constructor made
