"""A batch goes as soon as nothing more is waiting (`faust_patches.take_ready`), not when its wait runs out.

order_watcher runs here with a batch wait of 60 s (`FOREWARN_WATCH_BATCH_WAIT_S`). Faust's `take_events` waits out
what is left of that window at every hop before it hands a batch over, unless the batch fills: a lone carrier
exception would wait up to a minute in the order agent, then up to a minute in the escalation agent, before its
incident is on `incidents` (this test failed that way, with `take_events`). Taken when ready, it is out in seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import make_event
from tests.integration.order_watcher.support import events_on, send, start_watcher
from tests.support.events import order_placed

pytestmark = pytest.mark.integration

WAIT_S = 60
"""The batch wait order_watcher runs with here."""
OUT_WITHIN_S = 15
"""How soon the incident must be out: a quarter of one batch wait, with two hops to go through."""


def test_a_lone_event_is_handled_at_once_not_after_the_batch_wait(kafka: str, topic_prefix: str,
                                                                   tmp_path: Path) -> None:
    now = datetime.now(UTC)
    placed = order_placed("ord-lone", placed_at=now - timedelta(hours=3), ship_in=timedelta(days=1))
    exception = make_event("shipment.updated", {
        "order_id": "ord-lone", "shipment_id": "sh-lone", "carrier": "dhl", "tracking_number": "JD0146000062",
        "status": "exception", "exception_reason": "weather", "checkpoint_time": now,
        "estimated_delivery": now + timedelta(days=2)}, source="carrier/dhl", subject="ord-lone", time=now)
    watcher = start_watcher(kafka, topic_prefix, tmp_path, batch_wait_s=str(WAIT_S))
    try:
        send(kafka, f"{topic_prefix}orders", [placed])
        send(kafka, f"{topic_prefix}shipments", [exception])
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=1, settle=0.0, timeout=OUT_WITHIN_S)
    finally:
        watcher.stop()

    assert [(e.data.kind, e.data.order_id) for e in incidents] == [("delivery_exception", "ord-lone")], \
        watcher.log()[-3000:]
