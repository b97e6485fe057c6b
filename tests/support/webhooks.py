"""Sign webhooks as Shopify, Stripe, AfterShip, Twilio and SendGrid do, so tests post what they post."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

__all__ = ["SendGridKeys", "base64_hmac", "stripe_header", "twilio_signature"]


def base64_hmac(body: bytes, secret: str) -> str:
    """Shopify's X-Shopify-Hmac-Sha256 and AfterShip's aftership-hmac-sha256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def stripe_header(body: bytes, secret: str, timestamp: int, *extra_v1: str) -> str:
    """Stripe-Signature: t=...,v1=... (plus any further v1 values, as while a secret is rolled)."""
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return ",".join([f"t={timestamp}", *(f"v1={v}" for v in extra_v1), f"v1={signature}", "v0=ignored"])


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


@dataclass(frozen=True)
class SendGridKeys:
    """An ECDSA P-256 key pair like the one SendGrid signs event webhooks with."""

    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SendGridKeys:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        """As SendGrid shows it: base64 DER SubjectPublicKeyInfo, no PEM armour."""
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def sign(self, body: bytes, timestamp: str) -> str:
        return base64.b64encode(self.private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
