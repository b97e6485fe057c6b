"""Channel choice: the customer's preference order, falling back when a channel is unusable."""

from __future__ import annotations

import re

from .model import CHANNELS, Channel, ChannelChoice, PolicySettings, Profile, Reason

__all__ = ["channel_block", "choose_channel"]

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def channel_block(channel: str, profile: Profile, settings: PolicySettings) -> Reason | None:
    """Why `channel` cannot carry a message to this customer, or None if it can."""
    if channel not in CHANNELS:
        return Reason.UNSUPPORTED_CHANNEL
    if channel in profile.opted_out or "all" in profile.opted_out:
        return Reason.OPTED_OUT
    contact = profile.phone if channel == "sms" else profile.email
    if not contact:
        return Reason.NO_CONTACT
    pattern = _E164 if channel == "sms" else _EMAIL
    if not pattern.fullmatch(contact.strip()):
        return Reason.INVALID_CONTACT
    consent = profile.consent.get(channel)
    if consent is False or (consent is None and settings.require_explicit_consent):
        return Reason.NO_CONSENT
    if channel == "email" and profile.email_suppressed:
        return Reason.EMAIL_SUPPRESSED
    if channel == "sms" and profile.sms_permanently_failed:
        return Reason.SMS_PERMANENTLY_FAILED
    return None


def choose_channel(profile: Profile, settings: PolicySettings) -> ChannelChoice:
    """The first usable channel of the preferences, then of `settings.fallback_channels`.

    With nothing usable, the reason is the one that blocked the customer's first choice.
    """
    candidates = tuple(dict.fromkeys((*profile.channel_preferences, *settings.fallback_channels)))
    if not candidates:
        return ChannelChoice(None, Reason.NO_CHANNEL)
    skipped: list[tuple[str, Reason]] = []
    for candidate in candidates:
        block = channel_block(candidate, profile, settings)
        if block is None:
            channel: Channel = "sms" if candidate == "sms" else "email"
            return ChannelChoice(channel, None, tuple(skipped))
        skipped.append((candidate, block))
    return ChannelChoice(None, skipped[0][1], tuple(skipped))
