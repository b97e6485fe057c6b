"""The knobs of the return and refund rules, with per-store overrides."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from services.common.order_rules import StoreSettings

__all__ = ["MAX_RETURN_WINDOW", "ReturnSettings"]

MAX_RETURN_WINDOW = timedelta(days=365)
"""The longest return window a store may set (a year-long window is a real offer)."""


class ReturnSettings(StoreSettings):
    """Return and refund thresholds. Every default suits `make run`; `overrides` tunes them per store.

    `overrides` maps a store id to a partial set of these fields, e.g.
    `{"acme": {"refund_sla": "PT12H", "journey_refund_issued": true}}`; `for_store(store_id)`
    returns the merged settings. Durations take seconds or ISO 8601 ("P30D", "PT24H").

    Journey updates (one customer message each) are per store: `return_received` and
    `return_rejected` are on by default; `refund_issued` is off by default, because the
    store's payment provider (Shopify, Stripe) already sends a refund receipt and a second
    message about the same money is noise. A request outside the return window always goes
    to a person (`escalations`); telling the customer at once (`journey_window_exceeded`) is
    off by default, so the person's decision is not pre-empted. Dedupe and holding bounds
    (`seen_ids_limit`, `early_events_limit`) are the core's.
    """

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
