"""What the framework costs per event: the event loop a service runs on, and how often it commits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import faust
import mode.utils.loops
import pytest
import uvloop

from services.common import runner
from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.unit


def _forget_mode_loop() -> None:
    """mode caches the loop it first resolved on a thread (`mode.utils.loops`); a service process starts with
    none, while earlier tests of this run left theirs."""
    mode.utils.loops._current_loop.__dict__.pop("loop", None)


@pytest.fixture
def fresh_process_loop() -> Iterator[None]:
    """A loop state as in a new service process; afterwards the test run's policy and loop cache are back."""
    policy = asyncio.get_event_loop_policy()
    _forget_mode_loop()
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(policy)
        asyncio.set_event_loop(None)
        _forget_mode_loop()


class _Started(Exception):
    """Raised where the worker would take the process: the service is wired and about to run."""


def _started_service(monkeypatch: pytest.MonkeyPatch, settings: CommonSettings) -> Any:
    """Run `run_service` up to the point the worker takes over (broker seams stubbed); return that worker."""
    started: dict[str, Any] = {}

    async def message_max_bytes(bootstrap: str) -> list[int]:
        return [1_000_000]

    async def topics(*args: Any, **kwargs: Any) -> None:
        return None

    def execute(worker: Any) -> None:
        started["worker"] = worker
        raise _Started

    monkeypatch.setattr(runner, "broker_message_max_bytes", message_max_bytes)
    monkeypatch.setattr(runner, "ensure_topics", topics)
    monkeypatch.setattr(runner, "serve_metrics", lambda port: None)
    monkeypatch.setattr(runner, "configure_logging", lambda *args, **kwargs: None)  # the test run's logging stays
    monkeypatch.setattr(runner._Worker, "execute_from_commandline", execute)
    with pytest.raises(_Started):
        runner.run_service("loop-test", lambda common: create_app("loop-test", common), settings=settings)
    return started["worker"]


def _close(worker: Any) -> None:
    worker.app.consumer._thread.thread_loop.close()
    worker.loop.close()


@pytest.mark.usefixtures("fresh_process_loop")
def test_a_started_service_runs_on_uvloop_consumer_thread_included(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = _started_service(monkeypatch, CommonSettings(topic_prefix="unit-", event_loop="uvloop"))
    try:
        assert isinstance(worker.loop, uvloop.Loop)
        assert worker.app.loop is worker.loop
        # Faust's consumer thread makes a loop of its own: the policy makes it a uvloop one too
        assert isinstance(worker.app.consumer._thread.thread_loop, uvloop.Loop)
        assert worker.app.consumer._thread.parent_loop is worker.loop
    finally:
        _close(worker)


@pytest.mark.usefixtures("fresh_process_loop")
def test_asyncio_loop_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    worker = _started_service(monkeypatch, CommonSettings(topic_prefix="unit-", event_loop="asyncio"))
    try:
        assert not isinstance(worker.loop, uvloop.Loop)
        assert isinstance(worker.loop, asyncio.SelectorEventLoop)
        assert not isinstance(worker.app.consumer._thread.thread_loop, uvloop.Loop)
    finally:
        _close(worker)


def test_services_run_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOREWARN_EVENT_LOOP", raising=False)
    assert CommonSettings().event_loop == "uvloop"


def test_the_commit_cadence_reaches_the_consumer() -> None:
    app = create_app("commit-test", CommonSettings(topic_prefix="unit-", commit_every=2500, commit_interval_s=2.0))
    assert (app.conf.broker_commit_every, app.conf.broker_commit_interval) == (2500, 2.0)
    consumer: Any = app.consumer  # what Faust's fetch loop and commit timer read
    assert consumer._commit_every == 2500
    assert consumer.commit_interval == 2.0


def test_a_batch_is_not_committed_in_pieces_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faust commits (and first flushes the producer) once `commit_every` messages are acked: by default not
    within an agent's batch, so a batch costs at most one flush beyond its own."""
    for name in ("FOREWARN_COMMIT_EVERY", "FOREWARN_WATCH_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    from services.order_watcher.settings import OrderWatcherSettings

    app: faust.App = create_app("commit-test", CommonSettings(topic_prefix="unit-"))
    assert app.conf.broker_commit_every >= OrderWatcherSettings().batch_size
