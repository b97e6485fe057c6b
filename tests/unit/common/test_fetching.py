"""The broker's fetch: every Faust worker consumer asks for our wait (not Faust's hard-coded 1.5 s) and sizes."""

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


async def test_worker_consumers_fetch_the_sizes_set() -> None:
    settings = CommonSettings(topic_prefix="unit-", fetch_min_bytes=65536, fetch_max_partition_bytes=4 * 1024 * 1024,
                              max_poll_records=2000)
    consumer = _worker_consumer(create_app("fetch-test", settings))
    try:  # what aiokafka builds its fetcher with at start, and what Faust's getmany asks for
        assert consumer._fetch_min_bytes == 65536
        assert consumer._max_partition_fetch_bytes == 4 * 1024 * 1024
        assert consumer._max_poll_records == 2000
    finally:
        await consumer.stop()


async def test_by_default_a_fetch_is_answered_with_whatever_there_is() -> None:
    consumer = _worker_consumer(create_app("fetch-test", CommonSettings(topic_prefix="unit-")))
    try:
        assert consumer._fetch_min_bytes == CommonSettings.model_fields["fetch_min_bytes"].default
        assert consumer._max_poll_records == CommonSettings.model_fields["max_poll_records"].default
    finally:
        await consumer.stop()
