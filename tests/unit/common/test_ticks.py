"""Ticks: round-trip of the tick value, and a failed send never crashes the ticker."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from services.common.clock import FixedClock
from services.common.settings import CommonSettings
from services.common.streams import create_app
from services.common.ticks import encode_tick, install_ticker, parse_tick

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_tick_round_trip_and_bad_ticks() -> None:
    assert parse_tick(encode_tick(AT)) == AT
    with pytest.raises(ValueError, match="offset"):
        parse_tick(b'{"tick": "2026-11-22T12:00:00"}')
    with pytest.raises((ValueError, KeyError)):
        parse_tick(b'{"tock": 1}')


class _Topic:
    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.sent: list[int] = []

    async def send(self, *, key: bytes, value: bytes, partition: int) -> None:
        if partition in self.fail_on:
            raise AssertionError("Unrecognized partition")
        self.sent.append(partition)


async def test_ticker_sends_to_every_partition_and_survives_a_failed_send() -> None:
    app = create_app("tick-test", CommonSettings(topic_prefix="unit-"))
    ok, failing = _Topic(set()), _Topic({1})
    for topic in (ok, failing):
        timer = install_ticker(app, topic, interval=1.0, partitions=3, clock=FixedClock(AT))  # type: ignore[arg-type]
        await inspect.unwrap(timer)()  # the body once (calling the decorated timer would loop)
    assert ok.sent == [0, 1, 2]
    assert failing.sent == [0]  # stopped at the failure, no exception escaped
