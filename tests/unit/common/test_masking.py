"""PII masking: no full phone number, email or secret survives."""

from __future__ import annotations

import logging

import pytest

from services.common.logging import MaskingFilter
from services.common.masking import mask_email, mask_phone, mask_pii

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("sms to +14155550123 failed", "+14155550123", "0123"),
        ("call (415) 555-0123 now", "555-0123", "0123"),
        ("mail ada.lovelace@example.com bounced", "ada.lovelace@example.com", "@example.com"),
        ("auth_token=abc123secret in config", "abc123secret", "auth_token"),
        ("api-key: SG.xyz.abc", "SG.xyz.abc", "api-key"),
        ("+4930123456789 and bob@example.org", "bob@example.org", "6789"),
    ],
)
def test_mask_pii_removes_personal_data(text: str, gone: str, kept: str) -> None:
    masked = mask_pii(text)
    assert gone not in masked
    assert kept in masked


@pytest.mark.parametrize("text", ["order ord-1001 at 2026-11-22T10:30:00+00:00", "offset 42 of partition 3", "v1.2.3"])
def test_mask_pii_leaves_ordinary_text(text: str) -> None:
    assert mask_pii(text) == text


def test_mask_helpers() -> None:
    assert mask_phone("+14155550123") == "+*******0123"
    assert mask_email("ada@example.com") == "a***@example.com"


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("forewarn.test.masking")
    logger.addFilter(MaskingFilter())
    try:
        with caplog.at_level(logging.INFO, logger="forewarn.test.masking"):
            logger.info("sent to %s / %s", "+14155550123", "grace@example.com", extra={"to": "+14155550123"})
    finally:
        logger.filters.clear()
    record = caplog.records[-1]
    assert "+14155550123" not in record.getMessage()
    assert "grace@example.com" not in record.getMessage()
    assert record.to != "+14155550123"  # type: ignore[attr-defined]
