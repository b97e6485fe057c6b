"""Channel choice: preferences, fallback, consent, opt-out, suppression, reasons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.notifier.policy import PolicySettings, Profile, Reason, choose_channel

pytestmark = pytest.mark.unit

SETTINGS = PolicySettings()
BOTH = Profile(customer_id="c1", store_id="acme", first_name="Ana", email="ana@example.com", phone="+14155550123")


def test_first_preference_wins() -> None:
    assert choose_channel(BOTH, SETTINGS).channel == "sms"
    assert choose_channel(replace(BOTH, channel_preferences=("email", "sms")), SETTINGS).channel == "email"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phone": None}, Reason.NO_CONTACT),
        ({"phone": "0415 555"}, Reason.INVALID_CONTACT),
        ({"opted_out": frozenset({"sms"})}, Reason.OPTED_OUT),
        ({"consent": {"sms": False}}, Reason.NO_CONSENT),
        ({"sms_permanently_failed": True}, Reason.SMS_PERMANENTLY_FAILED),
    ],
)
def test_sms_falls_back_to_email(change: dict[str, object], reason: Reason) -> None:
    choice = choose_channel(replace(BOTH, **change), SETTINGS)  # type: ignore[arg-type]
    assert choice.channel == "email"
    assert choice.reason is None
    assert choice.skipped == (("sms", reason),)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"email": None}, Reason.NO_CONTACT),
        ({"email": "not-an-address"}, Reason.INVALID_CONTACT),
        ({"opted_out": frozenset({"sms", "email"})}, Reason.OPTED_OUT),
        ({"opted_out": frozenset({"all"})}, Reason.OPTED_OUT),
        ({"consent": {"sms": False, "email": False}}, Reason.NO_CONSENT),
        ({"email_suppressed": True}, Reason.EMAIL_SUPPRESSED),
    ],
)
def test_email_only_preference_reports_why_nothing_is_usable(change: dict[str, object], reason: Reason) -> None:
    profile = replace(BOTH, channel_preferences=("email",), **change)  # type: ignore[arg-type]
    choice = choose_channel(profile, SETTINGS)
    assert choice.channel is None
    assert choice.reason == reason


def test_email_preference_does_not_fall_back_to_sms_by_default() -> None:
    profile = replace(BOTH, channel_preferences=("email",), email=None)
    assert choose_channel(profile, SETTINGS).channel is None
    both_ways = replace(SETTINGS, fallback_channels=("email", "sms"))
    assert choose_channel(profile, both_ways).channel == "sms"


def test_nothing_usable_reports_the_first_choices_reason() -> None:
    profile = replace(BOTH, opted_out=frozenset({"sms"}), email=None)
    choice = choose_channel(profile, SETTINGS)
    assert choice.channel is None
    assert choice.reason == Reason.OPTED_OUT
    assert choice.skipped == (("sms", Reason.OPTED_OUT), ("email", Reason.NO_CONTACT))


def test_absent_consent_is_enough_for_transactional_messages_unless_the_store_requires_it() -> None:
    assert choose_channel(BOTH, SETTINGS).channel == "sms"
    strict = replace(SETTINGS, require_explicit_consent=True)
    choice = choose_channel(BOTH, strict)
    assert choice.channel is None and choice.reason == Reason.NO_CONSENT
    consented = replace(BOTH, consent={"email": True})
    assert choose_channel(consented, strict).channel == "email"


def test_unknown_channels_are_skipped_and_no_channels_at_all_is_a_reason() -> None:
    choice = choose_channel(replace(BOTH, channel_preferences=("push", "sms")), SETTINGS)
    assert choice.channel == "sms"
    assert choice.skipped == (("push", Reason.UNSUPPORTED_CHANNEL),)
    nothing = choose_channel(replace(BOTH, channel_preferences=()), replace(SETTINGS, fallback_channels=()))
    assert (nothing.channel, nothing.reason) == (None, Reason.NO_CHANNEL)


def test_reasons_are_plain_strings() -> None:
    assert Reason.NO_CONSENT.value == "no_consent"
    assert isinstance(Reason.NO_CONSENT, str)
    assert f"{Reason.RESOLVED_BEFORE_SEND}" == "resolved_before_send"
