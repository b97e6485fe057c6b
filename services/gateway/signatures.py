"""Webhook signature checks, one per source: pure functions of the raw request, the secret and the time.

Each raises SignatureError with a short reason that is safe to send back and to log (never the
signature, the secret or the body). Every comparison of secrets-derived values is constant-time.
Signatures and timestamps are ASCII by every provider's definition: a header with any other
character (aiohttp hands undecodable bytes over as surrogates) is refused before it is compared,
and timestamps are `0-9` only (`str.isdigit()` also accepts '٣' and '²').
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook
from twilio.request_validator import RequestValidator, get_signature_algorithm

from services.gateway.mapping.base import ascii_digits

__all__ = [
    "SignatureError",
    "load_sendgrid_key",
    "verify_aftership",
    "verify_sendgrid",
    "verify_shopify",
    "verify_stripe",
    "verify_twilio",
]


MAX_TIMESTAMP_DIGITS = 12  # unix seconds until the year 33658


class SignatureError(Exception):
    """The request cannot be proven to come from the provider; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _header(value: str | None, name: str) -> str:
    """The header's value, stripped; refused when missing, blank or not ASCII."""
    if not value or not value.strip():
        raise SignatureError(f"missing {name} header")
    if not value.isascii():
        raise SignatureError(f"{name} is not ASCII")
    return value.strip()


def _unix_time(value: str) -> int | None:
    return int(value) if ascii_digits(value) and len(value) <= MAX_TIMESTAMP_DIGITS else None


def _base64_hmac_sha256(body: bytes, header: str | None, secret: str, header_name: str) -> None:
    """Shopify and AfterShip: the header is base64(HMAC-SHA256(secret, raw body))."""
    signature = _header(header, header_name)
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature.encode("ascii")):
        raise SignatureError("signature does not match")


def verify_shopify(body: bytes, header: str | None, secret: str) -> None:
    """`X-Shopify-Hmac-Sha256`, keyed with the app's client secret."""
    _base64_hmac_sha256(body, header, secret, "X-Shopify-Hmac-Sha256")


def verify_aftership(body: bytes, header: str | None, secret: str) -> None:
    """`aftership-hmac-sha256`, keyed with the webhook secret from AfterShip's settings."""
    _base64_hmac_sha256(body, header, secret, "aftership-hmac-sha256")


def _fresh(timestamp: int, now: float, tolerance: float) -> None:
    """Reject replays of old deliveries and timestamps from the future (a skewed or forged clock) alike."""
    if timestamp < now - tolerance:
        raise SignatureError("timestamp is too old")
    if timestamp > now + tolerance:
        raise SignatureError("timestamp is in the future")


def verify_stripe(body: bytes, header: str | None, secret: str, *, now: float, tolerance: float) -> None:
    """`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`: hex HMAC-SHA256 of `t.body`.

    Several v1 values appear while a secret is being rolled; one match is enough. Unlike
    stripe-python's check, a timestamp in the future is refused as well as an old one.
    """
    timestamps: list[str] = []
    candidates: list[str] = []
    for item in _header(header, "Stripe-Signature").split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value.strip())
        elif key == "v1":
            candidates.append(value.strip())
    timestamp = _unix_time(timestamps[0]) if len(timestamps) == 1 else None
    if timestamp is None:
        raise SignatureError("Stripe-Signature has no valid timestamp")
    if not candidates:
        raise SignatureError("Stripe-Signature has no v1 signature")
    signed = timestamps[0].encode("ascii") + b"." + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest().encode("ascii")
    matched = False
    for candidate in candidates:  # no early exit: every candidate costs the same
        matched |= hmac.compare_digest(expected, candidate.encode("ascii"))
    if not matched:
        raise SignatureError("signature does not match")
    _fresh(timestamp, now, tolerance)


def verify_twilio(
    url: str, params: Mapping[str, str], signature: str | None, auth_token: str, *, settings_header: str | None = None
) -> None:
    """`X-Twilio-Signature` over the full public URL and the sorted POST parameters (Twilio's own validator).

    `url` must be the URL Twilio requested as Twilio saw it: behind a proxy that is the public
    one, not ours. `params` may be a multidict (repeated names are all signed). There is no
    timestamp: replays are caught by dedupe, not here.
    """
    signed = _header(signature, "X-Twilio-Signature")
    validator = RequestValidator(auth_token)
    if settings_header is not None and not settings_header.isascii():
        raise SignatureError("X-Twilio-Webhooks-Signature-Settings is not ASCII")
    algorithm = get_signature_algorithm(settings_header)
    if not validator.validate(url, params, signed, algorithm):
        raise SignatureError("signature does not match")


def load_sendgrid_key(public_key: str) -> Any:
    """The verification key SendGrid shows (base64 DER, no PEM armour) as a key object; ValueError if unusable."""
    key = EventWebhook().convert_public_key_to_ecdsa(public_key.strip())
    if key is None:  # pragma: no cover - the SDK raises on a bad key
        raise ValueError("not an EC public key")
    return key


def verify_sendgrid(
    body: bytes, signature: str | None, timestamp: str | None, key: Any, *, now: float, tolerance: float
) -> None:
    """SendGrid's signed event webhook: ECDSA (P-256, SHA-256) over timestamp + raw body.

    The body must be the bytes received, untouched (a trailing CRLF is signed too). The SDK
    does not look at the timestamp's age; we refuse stale and future ones.
    """
    signed = _header(signature, "X-Twilio-Email-Event-Webhook-Signature")
    timestamp = _header(timestamp, "X-Twilio-Email-Event-Webhook-Timestamp")
    at = _unix_time(timestamp)
    if at is None:
        raise SignatureError("timestamp is not a unix time")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8, so it cannot carry a valid signature") from None
    try:
        valid = bool(EventWebhook().verify_signature(payload, signed, timestamp, key))
    except (ValueError, TypeError, binascii.Error):  # not base64, not a DER signature
        valid = False
    if not valid:
        raise SignatureError("signature does not match")
    _fresh(at, now, tolerance)
