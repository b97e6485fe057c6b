"""The knobs of the return and refund rules, with per-store overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

__all__ = ["MAX_RETURN_WINDOW", "ReturnSettings"]

MAX_RETURN_WINDOW = timedelta(days=365)
"""The longest return window a store may set (a year-long window is a real offer)."""


class ReturnSettings(BaseModel):
    """Return and refund thresholds. Every default suits `make run`; `overrides` tunes them per store.

    `overrides` maps a store id to a partial set of these fields, e.g.
    `{"acme": {"refund_sla": "PT12H", "journey_refund_issued": true}}`; `for_store(store_id)`
    returns the merged settings. Durations take seconds or ISO 8601 ("P30D", "PT24H").

    Journey updates (one customer message each) are per store: `return_received` and
    `return_rejected` are on by default; `refund_issued` is off by default, because the
    store's payment provider (Shopify, Stripe) already sends a refund receipt and a second
    message about the same money is noise. A request outside the return window always goes
    to a person (`escalations`); telling the customer at once (`journey_window_exceeded`) is
    off by default, so the person's decision is not pre-empted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    refund_sla: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="A refund is due this long after the return was received; later is refund_overdue.",
    )
    refund_escalate_after: timedelta = Field(
        default=timedelta(hours=72),
        ge=timedelta(0),
        description="A refund overdue by more than this goes to a person (escalation tier 2).",
    )
    return_window: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        le=MAX_RETURN_WINDOW,
        description="How long after delivery a return may be requested; a later request goes to a person.",
    )
    label_scan_reminder_after: timedelta = Field(
        default=timedelta(days=14),
        gt=timedelta(0),
        description="A return label with no carrier scan for this long gets one gentle reminder.",
    )
    journey_return_received: bool = Field(default=True, description="Tell the customer their return arrived.")
    journey_return_rejected: bool = Field(default=True, description="Tell the customer their return was refused.")
    journey_refund_issued: bool = Field(default=False, description="Tell the customer their refund went out.")
    journey_window_exceeded: bool = Field(
        default=False, description="Tell the customer at once that a late request went to a person."
    )
    returns_limit: int = Field(
        default=16, ge=1, le=256, description="Returns tracked per order; events of further ones are dropped."
    )
    seen_ids_limit: int = Field(
        default=64, ge=1, le=1024, description="Event ids remembered per order to drop duplicates."
    )
    early_events_limit: int = Field(
        default=32, ge=1, le=1024, description="Return events held for an order not seen yet; the oldest go first."
    )
    orphan_ttl: timedelta = Field(
        default=timedelta(days=7),
        gt=timedelta(0),
        description="How long return events for an order that never arrives are held before they are dropped.",
    )
    retain_for: timedelta = Field(
        default=timedelta(days=400),
        gt=timedelta(0),
        description="How long an order is remembered after its last event, once nothing waits on a deadline; "
        "longer than the longest return window, so a late request still finds its customer.",
    )
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-store field overrides, keyed by store id."
    )

    _per_store: dict[str, ReturnSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build_overrides(self) -> ReturnSettings:
        base = self.model_dump(exclude={"overrides"})
        for store_id, fields in self.overrides.items():
            if "overrides" in fields:
                raise ValueError(f"overrides for store {store_id!r} cannot nest overrides")
            self._per_store[store_id] = ReturnSettings.model_validate({**base, **fields})
        return self

    def for_store(self, store_id: str | None) -> ReturnSettings:
        """The settings in force for one store: this object when it has no overrides."""
        if store_id is None:
            return self
        return self._per_store.get(store_id, self)
