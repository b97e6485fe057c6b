"""Webhook signatures, table-driven per source: valid accepted; tampered, wrong secret, missing header, stale and
future timestamps rejected, each with a short reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.gateway.signatures import (
    SignatureError,
    load_sendgrid_key,
    verify_aftership,
    verify_sendgrid,
    verify_shopify,
    verify_stripe,
    verify_twilio,
)
from tests.support.webhooks import SendGridKeys, base64_hmac, stripe_header, twilio_signature

pytestmark = pytest.mark.unit

SECRET = "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"
WRONG = "shpss_00000000000000000000000000000000"
BODY = b'{"id": 820982911946154508, "note": "caf\xc3\xa9"}\r\n'  # non-ASCII and a trailing CRLF: bytes as sent
NOW = 1_772_460_000
TOLERANCE = 300
URL = "https://hooks.acme.example/webhooks/twilio/status"
PARAMS = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "MessageStatus": "delivered", "To": "+14155550123",
          "AccountSid": "AC" + "0" * 32, "ErrorCode": ""}
KEYS = SendGridKeys.generate()
OTHER_KEYS = SendGridKeys.generate()
SENDGRID_KEY = load_sendgrid_key(KEYS.public_key)

MUTATIONS = ("valid", "tampered_body", "wrong_secret", "missing_header")
TIMED_MUTATIONS = ("stale", "future", "edge_of_tolerance")
EXPECTED = {
    "valid": None, "edge_of_tolerance": None, "tampered_body": "does not match", "wrong_secret": "does not match",
    "missing_header": "missing", "stale": "too old", "future": "in the future",
}


def _timestamp(mutation: str) -> int:
    return {"stale": NOW - TOLERANCE - 1, "future": NOW + TOLERANCE + 1,
            "edge_of_tolerance": NOW - TOLERANCE}.get(mutation, NOW - 3)


def _sent(mutation: str) -> bytes:
    return BODY.replace(b"caf", b"cab") if mutation == "tampered_body" else BODY


def _hmac_header(mutation: str, missing: str | None) -> str | None:
    if mutation == "missing_header":
        return missing
    return base64_hmac(BODY, WRONG if mutation == "wrong_secret" else SECRET)


def _shopify(mutation: str) -> None:
    verify_shopify(_sent(mutation), _hmac_header(mutation, None), SECRET)


def _aftership(mutation: str) -> None:
    verify_aftership(_sent(mutation), _hmac_header(mutation, ""), SECRET)


def _stripe(mutation: str) -> None:
    secret = WRONG if mutation == "wrong_secret" else SECRET
    header = None if mutation == "missing_header" else stripe_header(BODY, secret, _timestamp(mutation))
    verify_stripe(_sent(mutation), header, SECRET, now=NOW, tolerance=TOLERANCE)


def _twilio(mutation: str) -> None:
    token = WRONG if mutation == "wrong_secret" else SECRET
    signature = None if mutation == "missing_header" else twilio_signature(URL, PARAMS, token)
    params = {**PARAMS, "MessageStatus": "failed"} if mutation == "tampered_body" else PARAMS
    verify_twilio(URL, params, signature, SECRET)


def _sendgrid(mutation: str) -> None:
    timestamp = str(_timestamp(mutation))
    keys = OTHER_KEYS if mutation == "wrong_secret" else KEYS
    signature = None if mutation == "missing_header" else keys.sign(BODY, timestamp)
    verify_sendgrid(_sent(mutation), signature, timestamp, SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)


SOURCES: dict[str, Callable[[str], None]] = {
    "shopify": _shopify, "aftership": _aftership, "stripe": _stripe, "twilio": _twilio, "sendgrid": _sendgrid,
}
CASES = [(source, mutation) for source in SOURCES for mutation in MUTATIONS] + [
    (source, mutation) for source in ("stripe", "sendgrid") for mutation in TIMED_MUTATIONS
]


@pytest.mark.parametrize(("source", "mutation"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_signature(source: str, mutation: str) -> None:
    expected = EXPECTED[mutation]
    if expected is None:
        SOURCES[source](mutation)
        return
    with pytest.raises(SignatureError) as caught:
        SOURCES[source](mutation)
    assert expected in caught.value.reason
    assert SECRET not in caught.value.reason


def test_stripe_accepts_any_of_several_v1_signatures() -> None:
    header = stripe_header(BODY, SECRET, NOW, "0" * 64, "f" * 64)
    verify_stripe(BODY, header, SECRET, now=NOW, tolerance=TOLERANCE)


@pytest.mark.parametrize("header", ["v1=abc", "t=abc,v1=abc", "t=1,t=2,v1=abc", f"t={NOW}", f"t={NOW},v0=abc"])
def test_stripe_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(SignatureError):
        verify_stripe(BODY, header, SECRET, now=NOW, tolerance=TOLERANCE)


def test_stripe_checks_the_signature_before_the_clock() -> None:
    """A forged request learns nothing about our clock: it is refused for its signature."""
    header = stripe_header(BODY, WRONG, NOW - 10_000)
    with pytest.raises(SignatureError, match="does not match"):
        verify_stripe(BODY, header, SECRET, now=NOW, tolerance=TOLERANCE)


def test_twilio_signs_the_public_url_so_a_proxy_must_be_configured() -> None:
    signature = twilio_signature(URL, PARAMS, SECRET)
    verify_twilio(URL, PARAMS, signature, SECRET)
    verify_twilio("https://hooks.acme.example:443/webhooks/twilio/status", PARAMS, signature, SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        verify_twilio("http://127.0.0.1:8080/webhooks/twilio/status", PARAMS, signature, SECRET)


def test_twilio_extra_parameter_is_tampering() -> None:
    signature = twilio_signature(URL, PARAMS, SECRET)
    with pytest.raises(SignatureError):
        verify_twilio(URL, {**PARAMS, "Body": "STOP"}, signature, SECRET)


def test_sendgrid_timestamp_is_signed_too() -> None:
    signature = KEYS.sign(BODY, str(NOW))
    with pytest.raises(SignatureError, match="does not match"):
        verify_sendgrid(BODY, signature, str(NOW - 1), SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)


def test_sendgrid_trailing_crlf_matters() -> None:
    signature = KEYS.sign(BODY, str(NOW))
    with pytest.raises(SignatureError):
        verify_sendgrid(BODY.rstrip(b"\r\n"), signature, str(NOW), SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)


@pytest.mark.parametrize(("signature", "timestamp"), [("not base64!", str(NOW)), ("AAAA", str(NOW)),
                                                      ("AAAA", None), ("AAAA", "yesterday")])
def test_sendgrid_garbage_is_refused_not_raised(signature: str, timestamp: str | None) -> None:
    with pytest.raises(SignatureError):
        verify_sendgrid(BODY, signature, timestamp, SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)


def test_sendgrid_body_that_is_not_utf8_is_refused() -> None:
    body = b"\xff\xfe[]"
    with pytest.raises(SignatureError, match="UTF-8"):
        verify_sendgrid(body, KEYS.sign(body, str(NOW)), str(NOW), SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)


def test_sendgrid_key_must_be_an_ec_key() -> None:
    with pytest.raises(ValueError):
        load_sendgrid_key("bm90IGEga2V5")


# Run on the old code (a `git worktree` of the parent commit): a surrogate in a Shopify, AfterShip or Stripe signature
# raised UnicodeEncodeError, and Stripe's `t=٣...` or `t=²` passed `isdigit()` and then raised in `.encode("ascii")`
# or `int()`: each a 500 before any signature was checked.
UNDECODABLE = "\udcff" + base64_hmac(BODY, SECRET)  # how aiohttp hands over a non-UTF-8 byte in a header


@pytest.mark.parametrize("verify", [verify_shopify, verify_aftership])
def test_a_non_ascii_hmac_header_is_refused_not_crashed(verify: Callable[[bytes, str | None, str], None]) -> None:
    for header in (UNDECODABLE, "é" + base64_hmac(BODY, SECRET), "٣"):
        with pytest.raises(SignatureError, match="not ASCII"):
            verify(BODY, header, SECRET)


@pytest.mark.parametrize("timestamp", ["١٧٧٢٤٦٠٠٠٠", "²", "1772460000²", "9" * 40, "-1772460000", ""])
def test_stripe_timestamps_are_ascii_digits_only(timestamp: str) -> None:
    signature = stripe_header(BODY, SECRET, NOW).split(",")[1]  # a valid v1 for t=NOW
    with pytest.raises(SignatureError, match=r"no valid timestamp|not ASCII"):
        verify_stripe(BODY, f"t={timestamp},{signature}", SECRET, now=NOW, tolerance=TOLERANCE)


def test_stripe_non_ascii_signature_values_are_refused() -> None:
    for header in (f"t={NOW},v1=\udcff", f"t={NOW},v1=é" + "0" * 63, "\udcfft=1"):
        with pytest.raises(SignatureError):
            verify_stripe(BODY, header, SECRET, now=NOW, tolerance=TOLERANCE)


def test_twilio_and_sendgrid_non_ascii_headers_are_refused() -> None:
    with pytest.raises(SignatureError, match="not ASCII"):
        verify_twilio(URL, PARAMS, "\udcff" + twilio_signature(URL, PARAMS, SECRET), SECRET)
    with pytest.raises(SignatureError):
        verify_twilio(URL, PARAMS, twilio_signature(URL, PARAMS, SECRET), SECRET, settings_header="algorithm=\udcff")
    timestamp = str(NOW)
    for signature, stamp in ((KEYS.sign(BODY, timestamp) + "\udcff", timestamp), (KEYS.sign(BODY, timestamp), "١٧٧"),
                             (KEYS.sign(BODY, timestamp), "\udcff1")):
        with pytest.raises(SignatureError):
            verify_sendgrid(BODY, signature, stamp, SENDGRID_KEY, now=NOW, tolerance=TOLERANCE)
