"""Decline classification: only issuer soft declines and our own blocks at normal risk are likely false."""

from __future__ import annotations

import pytest

from services.order_watcher.rules import classify_decline
from services.order_watcher.rules.declines import CUSTOMER_ACTION_CODES, DECLINE_CODES, LIKELY_FALSE_CODES, NEVER_CODES

pytestmark = pytest.mark.unit

CASES = [
    # code, outcome_type, risk_level, category
    ("do_not_honor", "issuer_declined", "normal", "likely_false"),
    ("generic_decline", "issuer_declined", "normal", "likely_false"),
    ("try_again_later", "issuer_declined", "elevated", "likely_false"),
    ("processing_error", "issuer_declined", "not_assessed", "likely_false"),
    ("issuer_not_available", "issuer_declined", "unknown", "likely_false"),
    ("DO_NOT_HONOR ", "issuer_declined", "normal", "likely_false"),
    ("do_not_honor", "issuer_declined", "highest", "never"),
    ("generic_decline", "blocked", "normal", "likely_false"),
    ("generic_decline", "blocked", "elevated", "unknown"),
    ("generic_decline", "blocked", "highest", "never"),
    ("fraudulent", "blocked", "normal", "never"),
    ("insufficient_funds", "issuer_declined", "normal", "customer_action"),
    ("insufficient_funds", "blocked", "normal", "customer_action"),
    ("expired_card", "issuer_declined", "normal", "customer_action"),
    ("incorrect_cvc", "issuer_declined", "normal", "customer_action"),
    ("card_velocity_exceeded", "issuer_declined", "normal", "customer_action"),
    ("something_new", "issuer_declined", "normal", "unknown"),
    ("", "invalid", "normal", "unknown"),
    ("fraudulent", "issuer_declined", "normal", "never"),
    ("stolen_card", "issuer_declined", "normal", "never"),
    ("lost_card", "issuer_declined", "normal", "never"),
    ("pickup_card", "issuer_declined", "normal", "never"),
    ("restricted_card", "issuer_declined", "normal", "never"),
    ("security_violation", "issuer_declined", "normal", "never"),
    ("merchant_blacklist", "issuer_declined", "normal", "never"),
]


@pytest.mark.parametrize(("code", "outcome_type", "risk_level", "category"), CASES)
def test_classify_decline(code: str, outcome_type: str, risk_level: str, category: str) -> None:
    assert classify_decline(code, outcome_type, risk_level) == category


@pytest.mark.parametrize("code", sorted(NEVER_CODES))
def test_never_codes_are_never_likely_false_whatever_the_outcome(code: str) -> None:
    for outcome_type in ("issuer_declined", "blocked", "invalid"):
        for risk in ("normal", "elevated", "highest", "not_assessed", "unknown"):
            assert classify_decline(code, outcome_type, risk) == "never"


def test_the_never_list_is_the_fraud_and_bad_card_codes() -> None:
    assert {
        "fraudulent",
        "stolen_card",
        "lost_card",
        "pickup_card",
        "restricted_card",
        "security_violation",
        "merchant_blacklist",
    } == NEVER_CODES


def test_the_table_puts_every_code_in_exactly_one_category() -> None:
    assert not (LIKELY_FALSE_CODES & NEVER_CODES)
    assert not (LIKELY_FALSE_CODES & CUSTOMER_ACTION_CODES)
    assert not (NEVER_CODES & CUSTOMER_ACTION_CODES)
    assert len(DECLINE_CODES) == len(LIKELY_FALSE_CODES) + len(NEVER_CODES) + len(CUSTOMER_ACTION_CODES)
    assert DECLINE_CODES["insufficient_funds"] == "customer_action"
