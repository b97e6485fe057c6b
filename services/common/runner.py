"""Run one service as its own process: logging, preparation, topics, metrics, then the Faust worker.

Three promises hold for every service run here:

* every topic the service needs (changelogs and Faust's leader topic included) exists with the
  right partition count before its agents start, or the process refuses to start (`ensure_topics`);
* an agent that raises out of its loop ends the process with a non-zero status, so the supervisor
  restarts it, instead of leaving a live process with a dead agent (`CrashingSupervisor`);
* the `<service> ready` line is logged only after all that, after the service's own preparation
  (the notifier's migrations), table recovery, and with every agent running.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from faust.worker import Worker
from mode import CrashingSupervisor

from services.common.kafka import TopicLayoutError, ensure_topics
from services.common.logging import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import CommonSettings

__all__ = ["EXIT_REFUSED", "Prepare", "agents_not_running", "crash_on_agent_error", "run_service"]

logger = logging.getLogger(__name__)

EXIT_REFUSED = 3
"""Exit status of a service that refused to start (its topics do not match what it needs)."""

Prepare = Callable[[CommonSettings], Awaitable[None]]
"""Work a service must finish before it may run (say, database migrations)."""


def crash_on_agent_error(app: faust.App) -> None:
    """Make an agent that raises out of its loop crash the whole app, so the worker exits non-zero.

    Faust's default (`OneForOneSupervisor`) restarts the agent's actor in place: one whose failure
    comes back at once (a `PartitionsMismatch` on every table write) ends up dead in a live process."""
    for agent in app.agents.values():
        agent.supervisor_strategy = CrashingSupervisor


def agents_not_running(app: faust.App) -> list[str]:
    """The names of `app`'s agents that have not started, or have crashed."""
    return [agent.name for agent in app.agents.values() if not agent.started or agent.crashed]


class _Worker(Worker):
    """Faust's worker, announcing readiness (topics in place, tables recovered, agents running) in our log."""

    def __init__(self, service: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        dead = agents_not_running(self.app)
        if dead or self.app.crashed or self.crashed:  # never announce a service with a dead agent
            await self.crash(RuntimeError(f"{self.service} agents not running: {', '.join(dead) or 'app crashed'}"))
            return
        logger.info("%s ready (%d agents running)", self.service, len(self.app.agents))


def run_service(
    name: str, build: Callable[[CommonSettings], faust.App], *, extra_topics: Iterable[str] = (),
    settings: CommonSettings | None = None, prepare: Prepare | None = None,
) -> None:
    """Prepare, build the app, create every topic it needs, then hand the process to a Faust worker until
    signalled. A topic layout that does not match exits with `EXIT_REFUSED` before any agent starts."""
    common = settings or CommonSettings()
    configure_logging(common.log_level, json_lines=common.log_json, service=name)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if prepare is not None:
        loop.run_until_complete(prepare(common))
    app = build(common)  # nothing connects yet: the app only names its tables, agents and topics
    crash_on_agent_error(app)
    try:
        loop.run_until_complete(ensure_topics(common, extra_topics, app=app))
    except TopicLayoutError as exc:
        logger.error("%s refuses to start: %s", name, exc)
        loop.close()
        sys.exit(EXIT_REFUSED)
    serve_metrics(common.metrics_port)
    logger.info("%s starting against %s", name, common.kafka_bootstrap_servers)
    worker = _Worker(name, app, loop=loop, loglevel=common.log_level, redirect_stdouts=False, quiet=True)
    # Faust would install its own (unmasked) log handler; ours is already on the root logger.
    worker._setup_logging = lambda: None
    worker.execute_from_commandline()
