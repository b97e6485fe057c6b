"""Only true incidents when a store's history arrives in a burst (the watermark), on the real broker.

Each order was placed three days ago with ship-by two days ago, and a carrier scanned its parcel
before the ship-by: it shipped in time, and no `not_shipped` may ever be said of it, whether the
order and its shipment are read together, a moment apart, after a backlog, or in a replay into
empty state. Genuinely late orders (no shipment) in the same burst are the control: exactly
they get `not_shipped`. (The parcels' last scan is 2.5 days old: tracking stalls are switched off,
they would be true.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import CloudEvent, make_event
from tests.integration.order_watcher.support import events_on, send, start_watcher
from tests.support.events import order_placed
from tests.support.kafka_io import produce, read_topic

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
PLACED = NOW - timedelta(days=3)
QUIET_TRACKING = {"tracking_stall_after": str(30 * 86400)}


def _order(order_id: str) -> CloudEvent:
    return order_placed(order_id, placed_at=PLACED, ship_in=timedelta(days=1), customer_id=f"cus-{order_id}",
                        deliver_in=timedelta(days=9))


def _in_transit(order_id: str) -> CloudEvent:
    at = PLACED + timedelta(hours=12)  # before the ship-by
    data = {"order_id": order_id, "shipment_id": f"sh-{order_id}", "carrier": "dhl", "tracking_number": "JD0146",
            "tracking_url": "https://track.example/JD0146", "status": "in_transit", "estimated_delivery": None,
            "checkpoint_time": at, "checkpoint_location": "Leipzig"}
    return make_event("shipment.updated", data, source="carrier/dhl", subject=order_id, time=at)


def _not_shipped(incidents: list[CloudEvent]) -> list[str]:
    return sorted(e.data.order_id for e in incidents if e.type == "incident.detected" and e.data.kind == "not_shipped")


def test_shipments_read_a_moment_after_their_orders_raise_no_not_shipped(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    """20 shipped orders and 1 late one arrive together; half the shipments come 1.5 s (three ticks) after all
    the orders. A tick in between must not fire the ship-by deadlines of the orders read so far."""
    shipped = [f"ord-burst-{i}" for i in range(20)]
    watcher = start_watcher(kafka, topic_prefix, tmp_path, **QUIET_TRACKING)
    try:
        send(kafka, f"{topic_prefix}shipments", [_in_transit(o) for o in shipped[:10]])
        send(kafka, f"{topic_prefix}orders", [*map(_order, shipped), _order("ord-late")])
        time.sleep(1.5)
        send(kafka, f"{topic_prefix}shipments", [_in_transit(o) for o in shipped[10:]])
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=1, settle=5.0, timeout=60)
    finally:
        watcher.stop()
    assert _not_shipped(incidents) == ["ord-late"], watcher.log()[-3000:]


def test_a_backlog_and_its_replay_into_empty_state_tell_only_the_late_orders(
    kafka: str, topic_prefix: str, tmp_path: Path
) -> None:
    """order_watcher stopped while 20 shipped orders and 5 late ones are published: exactly the 5 are late.
    Then the same history replayed into a fresh deployment (empty state) gives the same incidents."""
    shipped = [f"ord-ok-{i}" for i in range(20)]
    late = [f"ord-late-{i}" for i in range(5)]
    history = {
        "orders": [*map(_order, shipped), *map(_order, late)],
        "shipments": [_in_transit(o) for o in shipped],
    }
    watcher = start_watcher(kafka, topic_prefix, tmp_path, **QUIET_TRACKING)
    watcher.stop()  # its group and state exist; now it is down while the store publishes
    for topic, events in history.items():
        send(kafka, f"{topic_prefix}{topic}", events)
    watcher.start()
    try:
        first = events_on(kafka, f"{topic_prefix}incidents", expect=5, settle=5.0, timeout=90)
    finally:
        watcher.stop()
    assert _not_shipped(first) == sorted(late), watcher.log()[-3000:]

    replay_prefix = f"{topic_prefix}replay-"
    replayer = start_watcher(kafka, replay_prefix, tmp_path / "replay", **QUIET_TRACKING)
    try:
        for topic, events in history.items():  # every input record, each partition in its order
            records = asyncio.run(read_topic(kafka, f"{topic_prefix}{topic}", expect=len(events), timeout=30))
            assert len(records) == len(events)
            asyncio.run(produce(kafka, f"{replay_prefix}{topic}", [(r.key, r.value) for r in records]))
        again = events_on(kafka, f"{replay_prefix}incidents", expect=len(first), settle=5.0, timeout=90)
    finally:
        replayer.stop()

    def told(events: list[CloudEvent]) -> list[tuple[str, str, datetime]]:
        return sorted((e.id, e.data.kind, e.data.detected_at) for e in events if e.type == "incident.detected")

    assert told(again) == told(first), replayer.log()[-3000:]
