"""Which payment declines are probably not the customer's fault (false declines)."""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "CUSTOMER_ACTION_CODES",
    "DECLINE_CODES",
    "DeclineCategory",
    "LIKELY_FALSE_CODES",
    "NEVER_CODES",
    "classify_decline",
]

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
    **{code: "customer_action" for code in CUSTOMER_ACTION_CODES},
    **{code: "likely_false" for code in LIKELY_FALSE_CODES},
    **{code: "never" for code in NEVER_CODES},
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
