"""The knobs of order_watcher's detection rules, with per-store overrides."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from string import Formatter

from pydantic import Field, field_validator

from services.common.order_rules import StoreSettings

__all__ = ["WatchSettings"]

_TEMPLATE_FIELDS = {"store": "acme", "store_id": "acme", "order_id": "o-1", "payment_id": "pay-1"}


class WatchSettings(StoreSettings):
    """Detection thresholds. Every default suits `make run`; `overrides` tunes them per store.

    `overrides` maps a store id to a partial set of these fields, e.g.
    `{"acme": {"ship_grace": "PT6H"}}`; `for_store(store_id)` returns the merged settings.
    Dedupe and holding bounds (`seen_ids_limit`, `early_events_limit`, `orphan_ttl`) are the core's.
    """

    ship_grace: timedelta = Field(
        default=timedelta(hours=2),
        description="Slack after promised_ship_by before not_shipped fires: a label scanned a "
        "little late is common and not worth a message.",
    )
    delivery_grace: timedelta = Field(
        default=timedelta(0),
        description="Slack after promised_delivery_by before not_delivered fires.",
    )
    tracking_stall_after: timedelta = Field(
        default=timedelta(hours=48),
        description="A parcel in transit with no carrier checkpoint for this long is stalled.",
    )
    eta_slip_min_step: timedelta = Field(
        default=timedelta(days=1),
        description="A further ETA slip is a new incident only when the new estimated delivery "
        "date (customer's calendar) is at least this much later than the last one announced.",
    )
    decline_window: timedelta = Field(
        default=timedelta(minutes=15),
        description="After a likely-false decline, how long to wait for a successful payment "
        "before offering the customer a way to retry.",
    )
    escalation_window: timedelta = Field(
        default=timedelta(days=90),
        description="Rolling window, by event time, in which a second bad experience escalates.",
    )
    escalation_history_limit: int = Field(
        default=16, ge=2, le=256, description="Most incidents remembered per customer for escalation."
    )
    high_value_threshold: Decimal = Field(
        default=Decimal(200),
        ge=0,
        description="Order value (any currency) from which an escalation is at least tier 2.",
    )
    retry_url_template: str = Field(
        default="https://{store_id}.example/pay/{order_id}",
        description="Where a customer retries a payment; fields: {store}, {store_id}, {order_id}, {payment_id}.",
    )
    shipments_limit: int = Field(default=8, ge=1, le=64, description="Shipments tracked per order.")
    retain_for: timedelta = Field(
        default=timedelta(days=30),
        description="How long an order's state is kept after it closed (cancelled, delivered) or, "
        "for an order never delivered, after promised_delivery_by.",
    )

    @field_validator("retry_url_template")
    @classmethod
    def _template_formats(cls, value: str) -> str:
        try:
            fields = [name for _, name, spec, conv in Formatter().parse(value) if name is not None or spec or conv]
        except ValueError:
            raise ValueError("retry_url_template is not a valid format string") from None
        unknown = [name for name in fields if name not in _TEMPLATE_FIELDS]
        if unknown:
            raise ValueError(f"retry_url_template may only use {sorted(_TEMPLATE_FIELDS)}, not {unknown}")
        return value

    def retry_url(self, *, store_id: str, order_id: str, payment_id: str) -> str:
        """The payment retry link for one order."""
        return self.retry_url_template.format_map(
            {"store": store_id, "store_id": store_id, "order_id": order_id, "payment_id": payment_id}
        )
