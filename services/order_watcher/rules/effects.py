"""One step of the order rules: the core's step, with the facts every incident about an order carries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas import IncidentFacts
from schemas.values import IncidentKind
from services.common import order_rules
from services.common.order_rules import incident_id
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import IncidentMark, OrderState

__all__ = ["Outcome", "Step", "utc_iso"]

Outcome = order_rules.Outcome[OrderState]
"""What one step decided (see `services.common.order_rules.Outcome`); order_watcher opens no escalations here.

A type for annotations: build one with `order_rules.Outcome(...)`, since calling a parametrized alias
tries to set `__orig_class__` on the frozen instance, an exception raised and caught on every call."""


def utc_iso(at: datetime) -> str:
    """An instant as text for an incident cause: the same instant gives the same text, whatever its offset."""
    return at.astimezone(UTC).isoformat()


class Step(order_rules.Step[OrderState, WatchSettings]):
    """A working copy of one order's state (the caller's is never changed) plus the effects so far."""

    def emit(
        self,
        kind: IncidentKind,
        cause: str,
        facts: dict[str, Any],
        causes: Sequence[str | None],
        at: datetime,
        *,
        mark_at: datetime | None = None,
        shipment_id: str | None = None,
    ) -> bool:
        """Emit an incident once per (kind, order, cause); False when it was emitted before."""
        state = self.state
        iid = incident_id(kind, state.order_id, cause)
        if not self.fresh(iid):
            return False
        mark = IncidentMark(id=iid, kind=kind, at=mark_at, shipment_id=shipment_id)
        self.add(mark, IncidentFacts(**{**order_facts(state), **facts}), causes, at)
        return True


def order_facts(state: OrderState) -> dict[str, Any]:
    """The facts every incident about this order carries."""
    sku = state.first_sku
    return {
        "product_name": state.product_name,
        "sku": sku,
        "quantity": state.skus.get(sku) if sku else None,
        "promised_ship_by": state.promised_ship_by,
        "promised_delivery_by": state.promised_delivery_by,
        "order_total": state.total,
        "order_status_url": state.order_status_url,
    }
