"""The producer's record limit agrees with the broker's message.max.bytes, or the service refuses to start."""

from __future__ import annotations

import pytest

from services.common.sizes import SizeMismatch, producer_max_bytes, record_size

pytestmark = pytest.mark.unit


def test_the_broker_limit_is_the_default() -> None:
    assert producer_max_bytes(None, [8_388_608]) == 8_388_608
    assert producer_max_bytes(None, [8_388_608, 2_000_000]) == 2_000_000  # the smallest broker of the cluster


def test_a_configured_limit_may_lower_it_but_not_raise_it() -> None:
    assert producer_max_bytes(2_000_000, [8_388_608]) == 2_000_000
    with pytest.raises(SizeMismatch, match=r"above the broker's message\.max\.bytes=8388608"):
        producer_max_bytes(16_000_000, [8_388_608])
    with pytest.raises(SizeMismatch):
        producer_max_bytes(None, [])


def test_record_size_counts_key_value_headers_and_batch() -> None:
    bare = record_size(None, b"v" * 1000)
    assert bare > 1000
    assert record_size(b"k" * 10, b"v" * 1000, [("h", b"x" * 100)]) > bare + 110
