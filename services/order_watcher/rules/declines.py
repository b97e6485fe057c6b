"""False declines: which payment declines are probably not the customer's fault, and the rule around them."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from schemas import PaymentDeclined
from services.common.order_rules import incident_id
from services.order_watcher.rules.effects import Step
from services.order_watcher.rules.settings import WatchSettings
from services.order_watcher.rules.state import OrderState, PendingDecline

__all__ = [
    "CUSTOMER_ACTION_CODES",
    "DECLINE_CODES",
    "LIKELY_FALSE_CODES",
    "NEVER_CODES",
    "DeclineCategory",
    "classify_decline",
    "decline_due",
    "fire_declines",
    "note_decline",
]

MAX_PENDING_DECLINES = 8

DeclineCategory = Literal["likely_false", "never", "customer_action", "unknown"]

LIKELY_FALSE_CODES: Final = frozenset(
    {"do_not_honor", "generic_decline", "try_again_later", "processing_error", "issuer_not_available"}
)
"""Issuer soft declines: a retry usually goes through, so a gentle nudge helps."""

NEVER_CODES: Final = frozenset(
    {
        "fraudulent",
        "stolen_card",
        "lost_card",
        "pickup_card",
        "restricted_card",
        "security_violation",
        "merchant_blacklist",
    }
)
"""Fraud or a card that must not be used: we never invite a retry."""

CUSTOMER_ACTION_CODES: Final = frozenset(
    {
        "insufficient_funds",
        "expired_card",
        "incorrect_cvc",
        "invalid_cvc",
        "incorrect_number",
        "invalid_number",
        "incorrect_zip",
        "incorrect_pin",
        "invalid_pin",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_account",
        "invalid_amount",
        "card_velocity_exceeded",
        "withdrawal_count_limit_exceeded",
        "pin_try_exceeded",
        "authentication_required",
        "offline_pin_required",
        "online_or_offline_pin_required",
        "card_not_supported",
        "currency_not_supported",
        "transaction_not_allowed",
        "not_permitted",
        "service_not_allowed",
        "new_account_information_available",
        "do_not_try_again",
        "stop_payment_order",
        "revocation_of_authorization",
        "revocation_of_all_authorizations",
        "call_issuer",
        "duplicate_transaction",
        "testmode_decline",
    }
)
"""Declines only the customer can fix (money, card details, their bank): not ours to message about."""

DECLINE_CODES: Final[dict[str, DeclineCategory]] = {
    **dict.fromkeys(CUSTOMER_ACTION_CODES, "customer_action"),
    **dict.fromkeys(LIKELY_FALSE_CODES, "likely_false"),
    **dict.fromkeys(NEVER_CODES, "never"),
}
"""Stripe-style decline code -> category; a code not listed is "unknown"."""


def classify_decline(code: str | None, outcome_type: str | None, risk_level: str | None) -> DeclineCategory:
    """Category of one decline; only "likely_false" may lead to a false_decline incident.

    Fraud codes and the highest risk level are "never", whatever else is said, and a code the
    customer must act on (insufficient_funds, ...) stays "customer_action". Our own risk
    rule blocking a payment (outcome_type "blocked") is likely false only at risk level
    "normal"; at any other level it is "unknown".
    """
    normalized = (code or "").strip().lower()
    if risk_level == "highest" or normalized in NEVER_CODES:
        return "never"
    if normalized in CUSTOMER_ACTION_CODES:
        return "customer_action"
    if outcome_type == "blocked":
        return "likely_false" if risk_level == "normal" else "unknown"
    return DECLINE_CODES.get(normalized, "unknown")


def _false_decline_id(state: OrderState) -> str:
    return incident_id("false_decline", state.order_id, "order")


def note_decline(step: Step, event: PaymentDeclined) -> None:
    """Hold a likely-false decline of a customer in good standing for `decline_window`.

    Good standing: at least one earlier paid order (`customer_paid_orders_count` >= 1; unknown
    is not enough). An order already paid, fulfilled, closed, or already offered a retry is left alone:
    one gentle retry message per order.
    """
    state, data = step.state, event.data
    if state.paid_at is not None or state.closed_at is not None or state.fulfilled_at is not None:
        return
    if state.mark(_false_decline_id(state)) is not None:
        return
    if classify_decline(data.decline_code, data.outcome_type, data.risk_level) != "likely_false":
        return
    if (state.paid_orders_count or 0) < 1 or any(d.event_id == event.id for d in state.declines):
        return
    pending = PendingDecline(
        payment_id=data.payment_id,
        declined_at=data.declined_at,
        amount=data.amount,
        event_id=event.id,
        retry_url=data.retry_url,
    )
    held = sorted([*state.declines, pending], key=lambda d: (d.declined_at, d.payment_id))
    state.declines = held[:MAX_PENDING_DECLINES]


def decline_due(state: OrderState, settings: WatchSettings) -> datetime | None:
    """The earliest held decline's window end."""
    return state.declines[0].declined_at + settings.decline_window if state.declines else None


def fire_declines(step: Step, now: datetime) -> None:
    """false_decline when a held decline's window passed with no successful payment for the order."""
    state, settings = step.state, step.settings
    ripe = [d for d in state.declines if d.declined_at + settings.decline_window <= now]
    if not ripe:
        return
    state.declines = []
    if state.paid_at is not None or state.fulfilled_at is not None or state.store_id is None:
        return
    first = ripe[0]
    retry_url = first.retry_url or settings.retry_url(
        store_id=state.store_id, order_id=state.order_id, payment_id=first.payment_id
    )
    step.emit(
        "false_decline",
        "order",
        {"retry_url": retry_url, "amount": first.amount},
        [state.placed_event_id, *(d.event_id for d in ripe)],
        first.declined_at + settings.decline_window,
    )
