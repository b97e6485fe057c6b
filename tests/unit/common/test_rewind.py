"""Records skipped by Faust's fetch loop around a rebalance are read again in order, never counted as processed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from services.common import rewind
from services.common.rewind import GIVE_UP_S, ReadOffsets
from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.unit

TP = ("orders", 0)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class _Message:
    tp: Any
    offset: int


class _Consumer:
    """The parts of Faust's consumer the fix touches: read offsets and seeking."""

    def __init__(self, offsets: ReadOffsets) -> None:
        self._read_offset = offsets
        self.seeks: list[tuple[Any, int]] = []

    async def _seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))


async def _fetch_loop(consumer: _Consumer, batch: list[int], delivered: list[int]) -> None:
    """Faust's `_drain_messages` for one partition: gap check, delivery, read offset (as in faust-streaming)."""

    async def callback(message: _Message) -> None:
        delivered.append(message.offset)

    deliver = rewind._delivering_only_admitted(callback, consumer._read_offset)
    for offset in batch:
        r_offset = consumer._read_offset[TP]
        if r_offset is None or offset >= r_offset:
            if offset - (r_offset or 0) > 1 and r_offset:
                await rewind._rewind_instead_of_gap(consumer, TP, r_offset + 1, offset)
            await deliver(_Message(TP, offset))
            consumer._read_offset[TP] = offset


async def test_a_stale_batch_after_a_seek_is_rewound_and_read_again_in_order() -> None:
    offsets = ReadOffsets()
    consumer = _Consumer(offsets)
    delivered: list[int] = []
    await _fetch_loop(consumer, [97, 98, 99], delivered)
    offsets.update({TP: 100})  # a rebalance: Faust seeks to the committed offset, 100
    await _fetch_loop(consumer, [150, 151, 152], delivered)  # the rest of a batch fetched before it
    assert consumer.seeks == [(TP, 100)], "the partition is read again from the committed offset"
    assert delivered == [97, 98, 99], "stale records are not delivered ahead of the ones they skipped"
    await _fetch_loop(consumer, [100, 101, 102], delivered)  # the re-fetch
    assert delivered == [97, 98, 99, 100, 101, 102]
    assert TP not in offsets.rewinding
    assert offsets[TP] == 102


async def test_without_the_fix_the_same_sequence_loses_records() -> None:
    """The same loop with Faust's behaviour (a hole is passed over) drops 100..149 for good."""
    offsets: dict[Any, int | None] = {TP: 100}
    delivered: list[int] = []
    for offset in [150, 151, 100, 101]:
        r_offset = offsets[TP]
        if r_offset is None or offset >= r_offset:
            delivered.append(offset)
            offsets[TP] = offset
    assert delivered == [150, 151]


async def test_a_revoke_or_a_seek_of_faust_ends_a_rewind() -> None:
    offsets = ReadOffsets()
    offsets.rewind(TP, 10)
    offsets.pop(TP, None)
    assert TP not in offsets.rewinding
    offsets.rewind(TP, 10)
    offsets.update({TP: 40})
    assert TP not in offsets.rewinding
    assert offsets[TP] == 40


def test_a_record_that_never_comes_back_does_not_stall_the_partition_for_ever() -> None:
    clock = _Clock()
    offsets = ReadOffsets(clock)
    offsets.rewind(TP, 10)
    assert not offsets.admits(TP, 12)
    clock.now += GIVE_UP_S + 1
    assert offsets.admits(TP, 12)
    assert TP not in offsets.rewinding


def test_every_faust_consumer_of_our_apps_rewinds() -> None:
    from faust.transport.consumer import Consumer

    app = create_app("rewind-test", CommonSettings(topic_prefix="unit-"))
    assert Consumer._add_gap is rewind._rewind_instead_of_gap
    assert isinstance(app.consumer._read_offset, ReadOffsets)


async def test_a_hole_met_again_after_the_re_read_is_genuine_and_left_to_faust(monkeypatch: pytest.MonkeyPatch) -> None:
    """A transactional producer's commit markers take offsets: such a hole is there on every read."""
    gaps: list[tuple[Any, int, int]] = []

    async def faust_add_gap(consumer: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        gaps.append((tp, offset_from, offset_to))

    monkeypatch.setattr(rewind, "_faust_add_gap", faust_add_gap)
    offsets = ReadOffsets()
    consumer = _Consumer(offsets)
    delivered: list[int] = []
    await _fetch_loop(consumer, [10, 11], delivered)
    await _fetch_loop(consumer, [13, 14], delivered)  # 12 is a commit marker: not a record
    assert consumer.seeks == [(TP, 11)] and gaps == []
    await _fetch_loop(consumer, [11, 13, 14], delivered)  # the re-read finds the same hole
    assert gaps == [(TP, 12, 13)]
    assert delivered == [10, 11, 11, 13, 14], "read again once (11 twice), then on past the hole"
    assert consumer.seeks == [(TP, 11)]
