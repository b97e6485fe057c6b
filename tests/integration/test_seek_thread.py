"""A seek of a Faust consumer runs in its consumer thread, the only thread aiokafka's consumer may be used from.

Faust's `ThreadDelegateConsumer._seek` called the aiokafka consumer from the event loop's thread; the rewind
(`services.common.rewind`) seeks that way, and a seek landing while the consumer thread handed fetched records
over crashed the worker (`KeyError` on a partition in aiokafka's `Fetcher.fetched_records`: seen in `bench
detection`'s Faust floor). This test failed on that code: the seek ran in the test's own thread.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from faust.types import TP

from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.integration


async def test_a_seek_runs_in_the_consumer_thread_not_the_event_loop_s(kafka: str, topic_prefix: str) -> None:
    app = create_app("seek-thread-test", CommonSettings(kafka_bootstrap_servers=kafka, topic_prefix=topic_prefix))
    worker = app.consumer._thread  # Faust's consumer thread of the aiokafka driver
    await worker.start()
    try:
        sought: list[tuple[int | None, Any, int]] = []

        def seek(tp: Any, offset: int) -> None:  # the aiokafka consumer's seek, recorded where it runs
            sought.append((threading.get_ident(), tp, offset))

        worker._ensure_consumer().seek = seek
        tp = TP(f"{topic_prefix}orders", 0)
        await app.consumer._seek(tp, 7)
        consumer_thread = worker._thread
        assert consumer_thread is not None
        assert sought == [(consumer_thread.ident, tp, 7)]
        assert consumer_thread.ident != threading.get_ident()
    finally:
        await worker.stop()
