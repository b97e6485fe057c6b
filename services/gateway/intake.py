"""The gateway's use case: publish each mapped event exactly once per provider delivery, or dead-letter the body.

Stale check -> claim (atomic insert) -> publish and wait for the ack -> mark done -> advance
the resource's newest version. An item older than the newest version already accepted for its
resource is stale and not published. A publish that fails releases its claim and raises
`Unavailable`, so the provider gets a 5xx and its retry is not deduped away. A concurrent
duplicate waits for the first delivery to finish; if that one gave up, the duplicate publishes
in its place.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from schemas import dlq_topic
from services.common.clock import Clock
from services.common.deadletter import HEADER_PREFIX, describe_error
from services.common.masking import mask_pii
from services.common.metrics import DEAD_LETTERS
from services.gateway.dedupe import Claim, DedupeStore
from services.gateway.mapping import Publish
from services.gateway.metrics import EVENTS_PUBLISHED
from services.gateway.publisher import Publisher

__all__ = ["DEAD_LETTER_TOPIC", "Intake", "Published", "Unavailable", "dead_letter_headers"]

logger = logging.getLogger(__name__)

DEAD_LETTER_TOPIC = dlq_topic("gateway")
"""Raw webhook bodies we could verify but not map. Not `<topic>.dlq`: those hold contract events that a
replay sends back to their topic, and a provider's payload is not one."""
SERVICE = "gateway"
MAX_CONTEXT_CHARS = 200


class Unavailable(Exception):
    """Nothing is lost, but this delivery could not be finished now: answer 5xx so the provider retries."""


@dataclass(frozen=True)
class Published:
    published: int
    duplicates: int
    stale: int = 0


def dead_letter_headers(
    *, source: str, endpoint: str, error: Exception, received_at: str, context: Mapping[str, str]
) -> list[tuple[str, bytes]]:
    """`forewarn.dlq.*` headers: where the body came from and why it was refused (masked, bounded)."""
    values = {
        "source": source,
        "endpoint": endpoint,
        "error-class": f"{error.__class__.__module__}.{error.__class__.__qualname__}",
        "error-message": describe_error(error),
        "service": SERVICE,
        "received-at": received_at,
        **{name: mask_pii(value)[:MAX_CONTEXT_CHARS] for name, value in context.items() if value},
    }
    # Header values may carry undecodable request bytes (as surrogates): they are replaced, never fatal.
    return [(HEADER_PREFIX + name, value.encode("utf-8", errors="replace")) for name, value in values.items()]


class Intake:
    def __init__(
        self, store: DedupeStore, publisher: Publisher, clock: Clock, *, duplicate_wait_s: float = 5.0,
        poll_s: float = 0.05,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.duplicate_wait_s = duplicate_wait_s
        self.poll_s = poll_s

    async def publish(self, source: str, items: list[Publish]) -> Published:
        """Publish every item not published before; raise Unavailable if any could not be (after releasing it)."""
        claimed: list[tuple[Claim, Publish]] = []
        unique: dict[str, Publish] = {}
        for item in items:  # a batch may carry one delivery twice: the first stands
            unique.setdefault(item.delivery_id, item)
        duplicates = len(items) - len(unique)
        fresh = [item for item in unique.values() if not await self._stale(source, item)]
        stale = len(unique) - len(fresh)
        try:
            for item in fresh:
                claim = await self._claim(source, item.delivery_id)
                if claim.status == "done":
                    duplicates += 1
                else:
                    claimed.append((claim, item))
        except BaseException:
            for claim, _ in claimed:
                await self._release(claim)
            raise
        results = await asyncio.gather(
            *(self.publisher.publish(item.topic, item.event) for _, item in claimed), return_exceptions=True)
        failed = 0
        for (claim, item), result in zip(claimed, results, strict=True):
            if isinstance(result, BaseException):
                failed += 1
                logger.warning("publishing %s delivery %s failed: %s", source, item.delivery_id,
                               describe_error(result) if isinstance(result, Exception) else type(result).__name__)
                await self._release(claim)
            else:
                EVENTS_PUBLISHED.labels(topic=item.topic).inc()
                await self._done(claim, item.event.id)
                await self._advance(source, item)
        if failed:
            raise Unavailable(f"{failed} of {len(claimed)} events could not be published")
        return Published(len(claimed), duplicates, stale)

    async def _stale(self, source: str, item: Publish) -> bool:
        """Older than the newest version already accepted for its resource (a late retry or a replay)."""
        if item.version is None:
            return False
        try:
            newest = await self.store.newest(source, item.version.resource)
        except Exception as exc:
            raise Unavailable("the dedupe store is unavailable") from exc
        if newest is not None and item.version.at < newest:
            logger.info("refused a stale %s delivery %s", source, item.delivery_id)
            return True
        return False

    async def _advance(self, source: str, item: Publish) -> None:
        """Published and acked: the resource's newest version moves forward. If noting it fails, the only cost
        is that an older body within the replay window is not recognised as stale (it is still deduped)."""
        if item.version is None:
            return
        try:
            await self.store.advance(source, item.version.resource, item.version.at)
        except Exception as exc:
            logger.error("could not note the newest version of a %s resource: %s", source, describe_error(exc))

    async def dead_letter(
        self, source: str, *, endpoint: str, body: bytes, error: Exception, context: Mapping[str, str] | None = None,
    ) -> bool:
        """Put the raw body on the gateway's dead-letter topic, once per distinct body; False if it already was."""
        digest = hashlib.sha256(body).hexdigest()
        claim = await self._claim("dlq", f"{source}:{digest}")
        if claim.status == "done":
            return False
        headers = dead_letter_headers(source=source, endpoint=endpoint, error=error,
                                      received_at=self.clock.now().isoformat(), context=context or {})
        try:
            await self.publisher.send(self.publisher.common.topic(DEAD_LETTER_TOPIC), key=source.encode(),
                                      value=body, headers=headers)
        except Exception as exc:
            await self._release(claim)
            raise Unavailable("the dead-letter topic could not be written") from exc
        await self._done(claim)
        DEAD_LETTERS.labels(topic=DEAD_LETTER_TOPIC, error=error.__class__.__name__).inc()
        logger.warning("dead-lettered a %s webhook: %s", source, describe_error(error))
        return True

    async def _done(self, claim: Claim, event_id: str | None = None) -> None:
        """The record is on the broker whatever happens here: a failure to note it only costs a republish
        of the same event id (deduped downstream) when the provider retries after the claim's lease."""
        try:
            await self.store.done(claim, event_id)
        except Exception as exc:
            logger.error("could not mark %s delivery %s done: %s", claim.source, claim.delivery_id,
                         describe_error(exc))

    async def _release(self, claim: Claim) -> None:
        """Give the claim back; if even that fails, its lease runs out and the provider's retry takes it over."""
        try:
            await self.store.release(claim)
        except Exception as exc:
            logger.error("could not release %s delivery %s: %s", claim.source, claim.delivery_id,
                         describe_error(exc))

    async def _claim(self, source: str, delivery_id: str) -> Claim:
        """A claim that is ours or done; while another request holds it, wait (bounded) for it to finish."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.duplicate_wait_s
        while True:
            try:
                claim = await self.store.claim(source, delivery_id)
            except Exception as exc:  # the database is away: the provider retries later
                raise Unavailable("the dedupe store is unavailable") from exc
            if claim.status != "busy":
                return claim
            if loop.time() >= deadline:
                raise Unavailable("the same delivery is being processed; retry later")
            await asyncio.sleep(self.poll_s)
