"""The real twilio and sendgrid SDKs against the local fake provider server."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client as TwilioClient

from services.notifier.providers import EmailMessage, SendGridEmail, SmsMessage, TwilioSms, compose_email
from services.notifier.rendering import render
from services.notifier.rendering.examples import example_context
from tests.support.fake_providers import FakeProviders

pytestmark = pytest.mark.integration

SID = "AC" + "1" * 32


def _twilio(fake: FakeProviders, timeout: float = 10.0) -> TwilioSms:
    return TwilioSms(SID, "token-for-tests", "+15005550006", base_url=fake.url, timeout=timeout)


async def test_twilio_success(fake_providers: FakeProviders) -> None:
    sms = _twilio(fake_providers)
    try:
        result = await sms.send_sms(SmsMessage("ntf-1", "+14155550123", "Hi Ada", status_callback="http://cb/x"))
    finally:
        await sms.close()
    assert result.outcome == "sent"
    assert result.provider_message_id and result.provider_message_id.startswith("SM")
    sent = fake_providers.sends("twilio")
    assert len(sent) == 1
    assert sent[0].form == {"To": "+14155550123", "From": "+15005550006", "Body": "Hi Ada",
                            "StatusCallback": "http://cb/x"}
    assert sent[0].headers["Authorization"].startswith("Basic ")


async def test_twilio_request_is_the_sdks_own(fake_providers: FakeProviders) -> None:
    """Our HTTP client encodes the form itself: the request is the one the SDK's stock client makes, byte for byte
    in length, field for field in content, whatever the body holds."""
    body = "Acme: Hi Zoë & co, 50% off = +1 day? 🙂\nnext line ~ a/b; c=d"
    sms = _twilio(fake_providers)
    stock_http = AsyncTwilioHttpClient()
    stock = TwilioClient(SID, "token-for-tests", http_client=stock_http, edge=None, region=None)
    stock.edge = stock.region = None
    stock.api.base_url = fake_providers.url.rstrip("/")
    try:
        ours = await sms.send_sms(SmsMessage("ntf-1", "+14155550123", body, status_callback="http://cb/x?a=1&b=2"))
        await stock.messages.create_async(to="+14155550123", from_="+15005550006", body=body,
                                          status_callback="http://cb/x?a=1&b=2")
    finally:
        await sms.close()
        await stock_http.close()
    assert ours.outcome == "sent"
    first, second = fake_providers.sends("twilio")
    assert first.form == second.form
    assert first.form["Body"] == body
    same = ("Content-Type", "Content-Length", "Authorization", "User-Agent", "Accept", "Accept-Charset",
            "X-Twilio-Client")
    assert {k: first.headers.get(k) for k in same} == {k: second.headers.get(k) for k in same}
    assert first.path == second.path and first.method == second.method == "POST"


async def test_twilio_logs_the_request_when_its_logger_shows_info(fake_providers: FakeProviders,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    sms = _twilio(fake_providers)
    try:
        with caplog.at_level(logging.INFO, logger="twilio.async_http_client"):
            await sms.send_sms(SmsMessage("ntf-1", "+14155550123", "Hi"))
    finally:
        await sms.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "twilio.async_http_client"]
    assert any(m.startswith("POST Request: ") and m.endswith("/Messages.json") for m in logged)
    assert "Response Status Code: 201" in logged
    assert not any("Authorization" in m or "token-for-tests" in m for m in logged)


async def test_twilio_429_asks_for_retry_after(fake_providers: FakeProviders) -> None:
    fake_providers.script("twilio", [(429, 2)])
    sms = _twilio(fake_providers)
    try:
        result = await sms.send_sms(SmsMessage("ntf-1", "+14155550123", "Hi"))
    finally:
        await sms.close()
    assert result.outcome == "retry"
    assert result.retry_after == 2.0
    assert len(fake_providers.sends("twilio")) == 1  # the SDK did not retry on its own
    assert fake_providers.messages == []


async def test_twilio_500_is_ambiguous_and_found_by_lookup(fake_providers: FakeProviders) -> None:
    fake_providers.script("twilio", [500])
    sms = _twilio(fake_providers)
    message = SmsMessage("ntf-1", "+14155550123", "Hi Ada, your parcel is late")
    try:
        result = await sms.send_sms(message)
        found = await sms.find_sms(message, datetime.now(UTC) - timedelta(minutes=1))
        missing = await sms.find_sms(SmsMessage("ntf-2", "+14155550123", "other body"), datetime.now(UTC))
    finally:
        await sms.close()
    assert result.outcome == "ambiguous"
    assert len(fake_providers.sends("twilio")) == 1  # no blind retry
    assert found is not None and found.startswith("SM")
    assert missing is None


async def test_twilio_timeout_is_ambiguous(fake_providers: FakeProviders) -> None:
    fake_providers.timeout_delay = 2.0
    fake_providers.script("twilio", ["timeout"])
    sms = _twilio(fake_providers, timeout=0.5)
    started = time.monotonic()
    try:
        result = await sms.send_sms(SmsMessage("ntf-1", "+14155550123", "Hi"))
    finally:
        await sms.close()
    assert result.outcome == "ambiguous"
    assert time.monotonic() - started < 2.0


async def test_twilio_connection_refused_is_safe_to_retry() -> None:
    sms = TwilioSms(SID, "token", "+15005550006", base_url="http://127.0.0.1:9", timeout=2)
    try:
        result = await sms.send_sms(SmsMessage("ntf-1", "+14155550123", "Hi"))
    finally:
        await sms.close()
    assert result.outcome == "retry"


async def test_sendgrid_success_with_unsubscribe_headers_and_custom_args(fake_providers: FakeProviders) -> None:
    email = SendGridEmail("SG.test-key", "care@acme.example", host=fake_providers.url)
    message = EmailMessage("ntf-9", "ada@example.com", "Your order", "plain", "<p>html</p>",
                           headers={"List-Unsubscribe": "<https://u/x>",
                                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    result = await email.send_email(message)
    assert result.outcome == "sent"
    sent = fake_providers.sends("sendgrid")
    assert len(sent) == 1
    payload = sent[0].json
    assert payload["personalizations"][0]["to"][0]["email"] == "ada@example.com"
    assert payload["custom_args"] == {"notification_id": "ntf-9"}
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent[0].headers["Authorization"] == "Bearer SG.test-key"


async def test_sendgrid_reply_to_is_the_stores_support(fake_providers: FakeProviders) -> None:
    email = SendGridEmail("SG.test-key", "care@acme.example", host=fake_providers.url)
    rendered = render(example_context("stockout", "de"), "email")
    message = compose_email("ntf-10", "ada@example.com", rendered, unsubscribe_url="https://acme.example/u/x",
                            reply_to="help@acme.example")
    assert (await email.send_email(message)).outcome == "sent"
    payload = fake_providers.sends("sendgrid")[0].json
    assert payload["reply_to"] == {"email": "help@acme.example"}
    assert payload["headers"]["List-Unsubscribe"] == "<mailto:help@acme.example>, <https://acme.example/u/x>"
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]


async def test_sendgrid_429_and_500(fake_providers: FakeProviders) -> None:
    email = SendGridEmail("SG.test-key", "care@acme.example", host=fake_providers.url)
    fake_providers.script("sendgrid", [(429, 3), 500])
    message = EmailMessage("ntf-7", "ada@example.com", "s", "t", None)
    limited = await email.send_email(message)
    ambiguous = await email.send_email(message)
    found = await email.find_email(message, datetime.now(UTC))
    assert limited.outcome == "retry" and limited.retry_after == 3.0
    assert ambiguous.outcome == "ambiguous"
    assert found is not None
    assert await email.find_email(EmailMessage("ntf-none", "a@example.com", "s", "t", None), datetime.now(UTC)) is None
