"""Five orders of one unit and two units in stock: the three latest orders get a stockout, nobody else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.order_watcher.support import events_on, send, start_watcher, stock_changed, wait_consumed
from tests.support.events import order_placed

pytestmark = pytest.mark.integration


def test_stock_for_two_of_five_orders_gives_three_stockouts(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    line = {"sku": sku, "product_name": "Alpine Down Jacket", "quantity": 1,
            "unit_price": {"amount": "89.00", "currency": "USD"}}
    start = datetime.now(UTC) - timedelta(minutes=10)
    orders = [
        order_placed(f"ord-stock-{n}", placed_at=start + timedelta(seconds=n), ship_in=timedelta(days=2),
                     customer_id=f"cus-stock-{n}", lines=[line])
        for n in range(1, 6)
    ]
    watcher = start_watcher(kafka, topic_prefix, tmp_path)
    try:
        send(kafka, f"{topic_prefix}orders", orders)
        wait_consumed(kafka, topic_prefix, ["orders", "order-watcher.demand-by-sku"])
        send(kafka, f"{topic_prefix}inventory", [stock_changed(sku, 2, datetime.now(UTC))])
        incidents = events_on(kafka, f"{topic_prefix}incidents", expect=3, settle=3.0)
    finally:
        watcher.stop()

    log = watcher.log()[-3000:]
    assert sorted((e.type, e.data.kind, e.data.order_id) for e in incidents) == [
        ("incident.detected", "stockout", f"ord-stock-{n}") for n in (3, 4, 5)
    ], log
    for event in incidents:
        facts = event.data.facts
        assert facts.sku == sku
        assert facts.product_name == "Alpine Down Jacket"
        assert facts.choices == ["wait", "refund", "substitute"]
        assert event.subject == event.data.customer.id  # keyed by customer on `incidents`
        assert not event.data.escalate
