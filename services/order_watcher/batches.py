"""A batch of one agent's messages: decided one by one, sent together, acknowledged together, applied together.

Handling messages one at a time, every message waited for the broker to acknowledge its sends
before the next could start, and wrote its state to the changelog on its own. A batch keeps the
guarantee (no state write is applied before the broker has every message it decided) and pays
the wait once:

1. Each message, in order, inside `acting_for(message)`: parsed (a bad one is dead-lettered, as
   always), then decided over a per-message `Staged` view of the batch's `BatchStaged` layers.
   A step that raises is dead-lettered alone and its writes dropped; the others go on. A step
   that succeeds merges its writes into the batch layers, so later messages of the batch read them.
2. Every send of the batch goes out; all acks are awaited together (a failed send is retried
   with backoff, the same records again: their ids are deterministic and readers dedupe).
3. Only then is each layer applied, every key written on behalf of the message that wrote it
   last (one changelog record per key per batch, however often the batch changed it).

`take_events` acks the batch after this returns, so a crash anywhere before leaves every message
of the batch to be handled again, with the same outcome. If the sends still fail after the retries,
nothing of the batch is applied and each message goes through the one-at-a-time path instead
(`Guard.handle` with its own retries and dead letters), so a message whose output the broker
refuses (too large, say) is dead-lettered alone.

Every dead letter goes through the one `DeadLetterSink` (see `services.common.deadletter`): a value
too large to go whole goes as a reference record, and a dead letter that cannot be written at all
raises `DeadLetterFailed` out of the batch (after the sink has stopped the process), so the batch
is never acked past a message that was neither handled nor dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import faust

from services.common.deadletter import DeadLetterFailed
from services.common.metrics import EVENTS_CONSUMED, INCIDENTS_EMITTED
from services.common.streams import TRANSIENT, Guard, acting_for
from services.order_watcher.staging import BatchStaged
from services.order_watcher.steps import Send, Work

__all__ = ["Agent", "handle_batch", "report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Agent:
    """What a batch needs from its agent.

    `decide(event)` parses one Faust event and returns its `Work` over the batch's layers (None
    when the event was dead-lettered); `one(event)` handles a single event the one-at-a-time way,
    for the fallback; `failed(event, work)` dead-letters what a step could not do (may be None).
    """

    guard: Guard
    outlets: Mapping[str, faust.TopicT]
    decide: Callable[[Any], Awaitable[Work | None]]
    one: Callable[[Any], Awaitable[bool]]
    failed: Callable[[Any, Work], Awaitable[None]] | None = None
    send_attempts: int = 5
    backoff_s: float = 0.2
    backoff_max_s: float = 5.0


async def handle_batch(events: Sequence[Any], layers: Sequence[BatchStaged], agent: Agent) -> None:
    """Handle `events` (Faust events of one agent, in stream order) over `layers` (see the module doc)."""
    decided: list[tuple[Any, Work]] = []
    for event in events:
        EVENTS_CONSUMED.labels(agent.guard.service, event.message.topic).inc()
        with acting_for(event):
            for layer in layers:
                layer.owner = event
            try:
                work = await agent.decide(event)
            except DeadLetterFailed:
                raise  # the message was neither handled nor dead-lettered: never passed over
            except Exception as exc:  # a bug or a bad message: keep it, with why, and go on
                message = event.message
                logger.exception("step failed on %s[%d]@%d", message.topic, message.partition, message.offset)
                await agent.guard.dead_letter(event, exc)
                continue
            if work is None:
                continue
            work.apply()  # into the batch layers, owned by this event
            decided.append((event, work))
    if not await _send_all([send for _, work in decided for send in work.sends], agent):
        for layer in layers:
            layer.discard()
        logger.warning("sends of a batch of %d failed; handling its events one at a time", len(decided))
        for event, _ in decided:
            with acting_for(event):
                await agent.one(event)
        return
    for event, work in decided:
        if work.failed and agent.failed is not None:
            await agent.failed(event, work)
        report(work)
    for layer in layers:
        layer.apply_as(acting_for)


async def _send_all(sends: list[Send], agent: Agent) -> bool:
    """Send every record and wait for every ack; True once the broker has them all."""
    delay = agent.backoff_s
    for attempt in range(1, agent.send_attempts + 1):
        try:
            pending = [await agent.outlets[s.to].send(key=s.key, value=s.value) for s in sends]
            if pending:
                await asyncio.gather(*pending)
            return True
        except TRANSIENT as exc:
            logger.warning("sending a batch failed (attempt %d): %s", attempt, exc.__class__.__name__)
        except Exception:
            logger.exception("sending a batch failed")
            return False
        if attempt < agent.send_attempts:
            await asyncio.sleep(delay)
            delay = min(delay * 2, agent.backoff_max_s)
    return False


def report(work: Work) -> None:
    """Count and log the incidents a step published (once its sends are acknowledged)."""
    for incident in work.published:
        INCIDENTS_EMITTED.labels(incident.kind).inc()
        logger.info("incident %s %s on order %s%s", incident.kind, incident.incident_id, incident.order_id,
                    f" (escalated, tier {incident.escalation_tier})" if incident.escalate else "")
