"""PII masking for logs, dead-letter headers and error messages."""

from __future__ import annotations

import re

__all__ = ["mask_email", "mask_phone", "mask_pii"]

_EMAIL = re.compile(r"(?P<local>[A-Za-z0-9._%+\-]+)@(?P<domain>[A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
# E.164 and common loose phone spellings: +, digits, spaces, dashes, dots, parentheses.
_PHONE = re.compile(r"(?<![\w/])\+?\d[\d \-().]{6,}\d(?![\w/])")
_SECRET = re.compile(r"(?i)\b(auth[_-]?token|api[_-]?key|password|secret|token)(\s*[=:]\s*)(\S+)")


def mask_email(email: str) -> str:
    """`ada.lovelace@example.com` -> `a***@example.com`."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    """`+14155550123` -> `+*******0123` (keeps the last four digits)."""
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 7:
        return phone
    tail = "".join(digits[-4:])
    return ("+" if phone.strip().startswith("+") else "") + "*" * (len(digits) - 4) + tail


def mask_pii(text: str) -> str:
    """Mask every email address, phone number and `key=secret` pair found in free text."""
    text = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: _mask_phone_match(m.group(0)), text)


def _mask_phone_match(candidate: str) -> str:
    digits = sum(c.isdigit() for c in candidate)
    # Dates and times (2026-11-22, 10:30) have few digits or separators we do not treat as phones.
    if digits < 8 or re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", candidate):
        return candidate
    return mask_phone(candidate)
