"""The dedupe store on real SQLite and real PostgreSQL: same tests, both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.clock import FixedClock
from services.common.db import create_engine
from services.gateway.dedupe import DedupeStore
from tests.integration.gateway.support import database_url

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DedupeStore]:
    postgres = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    engine = create_engine(await database_url(request.param, tmp_path, postgres))
    built = DedupeStore(engine, FixedClock(NOW), lease=LEASE)
    await built.create()
    await built.create()  # safe at every start
    try:
        yield built
    finally:
        await engine.dispose()


def _clock(store: DedupeStore) -> FixedClock:
    assert isinstance(store.clock, FixedClock)
    return store.clock


async def test_concurrent_claims_have_one_winner(store: DedupeStore) -> None:
    claims = await asyncio.gather(*(store.claim("stripe", "evt_1") for _ in range(20)))
    assert sorted(c.status for c in claims) == ["busy"] * 19 + ["claimed"]
    assert await store.state("stripe", "evt_1") == "claimed"


async def test_done_is_final_and_sources_do_not_collide(store: DedupeStore) -> None:
    claim = await store.claim("stripe", "evt_1")
    await store.done(claim, "stripe-abc")
    assert (await store.claim("stripe", "evt_1")).status == "done"
    assert (await store.claim("shopify", "evt_1")).status == "claimed"


async def test_a_released_claim_can_be_claimed_again(store: DedupeStore) -> None:
    claim = await store.claim("twilio", "SM1:delivered")
    await store.release(claim)
    assert await store.state("twilio", "SM1:delivered") is None
    again = await store.claim("twilio", "SM1:delivered")
    assert again.status == "claimed" and again.token != claim.token


async def test_a_stale_claim_is_taken_over_and_its_holder_cannot_finish_it(store: DedupeStore) -> None:
    crashed = await store.claim("shopify", "wh-1")
    _clock(store).advance(LEASE - timedelta(seconds=1))
    assert (await store.claim("shopify", "wh-1")).status == "busy"
    _clock(store).advance(timedelta(seconds=2))
    taker = await store.claim("shopify", "wh-1")
    assert taker.status == "claimed"
    await store.done(crashed)  # the old holder woke up: it no longer owns the row
    await store.release(crashed)
    assert await store.state("shopify", "wh-1") == "claimed"
    await store.done(taker)
    assert await store.state("shopify", "wh-1") == "done"


async def test_long_ids_are_bounded_and_still_distinct(store: DedupeStore) -> None:
    first, second = "x" * 500 + "1", "x" * 500 + "2"
    assert (await store.claim("aftership", first)).status == "claimed"
    assert (await store.claim("aftership", second)).status == "claimed"
    assert (await store.claim("aftership", first)).status == "busy"


async def test_purge_forgets_old_finished_deliveries_only(store: DedupeStore) -> None:
    old = await store.claim("sendgrid", "old")
    await store.done(old)
    await store.claim("sendgrid", "in-flight")
    _clock(store).advance(timedelta(days=8))
    fresh = await store.claim("sendgrid", "fresh")
    await store.done(fresh)
    assert await store.purge(NOW + timedelta(days=1)) == 1
    assert await store.state("sendgrid", "old") is None
    assert await store.state("sendgrid", "fresh") == "done"
    assert await store.state("sendgrid", "in-flight") == "claimed"


async def test_versions_only_move_forward(store: DedupeStore) -> None:
    """The newest accepted time per resource: a conditional upsert, so an older version never overwrites a newer."""
    resource = "order:acme:1:orders/fulfilled"
    assert await store.newest("shopify", resource) is None
    assert await store.advance("shopify", resource, NOW)
    assert not await store.advance("shopify", resource, NOW - timedelta(hours=1))
    assert not await store.advance("shopify", resource, NOW)
    assert await store.newest("shopify", resource) == NOW
    later = NOW + timedelta(minutes=5)
    moved = await asyncio.gather(*(store.advance("shopify", resource, later - timedelta(seconds=s)) for s in range(5)))
    assert await store.newest("shopify", resource) == later and moved.count(True) >= 1
    assert await store.newest("stripe", resource) is None  # sources do not collide
    assert await store.advance("aftership", "tracking:" + "x" * 500, NOW)  # long keys are bounded
    assert await store.newest("aftership", "tracking:" + "x" * 500) == NOW


async def test_purge_forgets_versions_not_moved_since(store: DedupeStore) -> None:
    await store.advance("stripe", "payment:pi_old", NOW)
    _clock(store).advance(timedelta(days=8))
    await store.advance("stripe", "payment:pi_new", NOW)
    assert await store.purge(NOW + timedelta(days=1)) == 1
    assert await store.newest("stripe", "payment:pi_old") is None
    assert await store.newest("stripe", "payment:pi_new") == NOW
