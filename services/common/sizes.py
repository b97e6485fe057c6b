"""Record sizes: the largest record a service may produce, agreed with the broker's `message.max.bytes`.

Faust's producer refuses a record over `producer_max_request_size` (1,000,000 bytes by default)
while the broker accepts up to its `message.max.bytes` (8 MiB on ours): a value between the two
is consumed fine but could not be dead-lettered whole. So each service sets its producer limit
from the broker's, read at start (`FOREWARN_MAX_MESSAGE_BYTES` may only lower it), and the
dead-letter sink measures a record the way the producer does before choosing to send it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiokafka.record.default_records import DefaultRecordBatchBuilder

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "SizeMismatch", "producer_max_bytes", "record_size"]

DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
"""Faust's producer default: the limit of an app whose broker was not asked."""


class SizeMismatch(ValueError):
    """The configured record size does not agree with the broker's: the service must not start."""


def record_size(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()) -> int:
    """The bytes a record takes in a batch of its own, as the producer counts them against its limit."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def producer_max_bytes(configured: int | None, broker_limits: Iterable[int]) -> int:
    """The producer's limit: the smallest `message.max.bytes` of the brokers, or `configured` when set.

    A configured limit above a broker's would let the producer send what the broker refuses:
    `SizeMismatch`. So would a cluster that said nothing."""
    limits = list(broker_limits)
    if not limits:
        raise SizeMismatch("the broker did not say its message.max.bytes")
    broker = min(limits)
    if configured is None:
        return broker
    if configured > broker:
        raise SizeMismatch(
            f"FOREWARN_MAX_MESSAGE_BYTES={configured} is above the broker's message.max.bytes={broker}: "
            "records between the two would be refused by the broker")
    return configured
