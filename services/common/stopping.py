"""How a process stops: within a deadline, whatever its stop waits for.

Every service (the Faust ones through `services.common.runner`, the web ones directly) arms
`arm_stop_deadline` when its stop begins. Light on purpose: no Faust here, so the web services
need not import it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

__all__ = ["EXIT_STOP_OVERRAN", "arm_stop_deadline", "exit_now"]

logger = logging.getLogger(__name__)

EXIT_STOP_OVERRAN = 4
"""Exit status of a service whose stop did not finish within its deadline (what was pending is logged)."""


def exit_now(status: int, message: str, *args: Any) -> None:
    """Log, flush the log, and end the process at once: no stop sequence, no commit."""
    logger.critical(message, *args)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(status)


def arm_stop_deadline(service: str, seconds: float, loop: asyncio.AbstractEventLoop) -> threading.Timer:
    """From now, end the process with `EXIT_STOP_OVERRAN` unless it has ended within `seconds`.

    Started when a stop begins: whatever the stop waits for (a flush to a broker that is gone, a
    client holding a request open) cannot hold it longer. A thread, so a blocked loop cannot hold it
    either; what the loop was still waiting for is logged."""
    watchdog = threading.Timer(seconds, _overran, args=(service, seconds, loop))
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def _overran(service: str, seconds: float, loop: asyncio.AbstractEventLoop) -> None:
    exit_now(EXIT_STOP_OVERRAN, "%s did not stop within %.0fs; ending it now (nothing uncommitted is lost: "
              "it is read again). Still waiting: %s", service, seconds, _pending_tasks(loop))


def _awaiting(task: asyncio.Task[Any]) -> str:
    """The chain of coroutines `task` is suspended in, outermost first (function:line each)."""
    chain: list[str] = []
    step: Any = task.get_coro()
    while step is not None and len(chain) < 30:
        frame = getattr(step, "cr_frame", None) or getattr(step, "ag_frame", None) or getattr(step, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        step = getattr(step, "cr_await", None) or getattr(step, "ag_await", None) or getattr(step, "gi_yieldfrom", None)
    return " > ".join(chain)


def _pending_tasks(loop: asyncio.AbstractEventLoop) -> str:
    """Where each unfinished task of `loop` waits, the stop itself first (read from another thread: a best
    effort)."""
    try:
        chains = sorted({_awaiting(task) for task in list(asyncio.all_tasks(loop))},
                        key=lambda chain: ("stop" not in chain, chain))
    except RuntimeError:  # the loop changed its tasks while we read them
        return "(tasks changed while listed)"
    return "\n  " + "\n  ".join(chains[:40])
