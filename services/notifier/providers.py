"""Provider adapters: Twilio SMS and SendGrid email through their official SDKs, and a console outbox.

Each adapter turns a provider's answer into a `SendResult` the sender acts on:
`sent`, `retry` (the request was never processed: 429, connection refused; safe to repeat after
`retry_after`), `ambiguous` (a 5xx or a timeout after the request left: look it up before any
resend), `opted_out` (the recipient unsubscribed at the provider), or `failed` (permanent).
SDK-level automatic retries are off everywhere: we decide what is safe to repeat."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import aiohttp
from aiohttp import BasicAuth
from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Header, Mail, ReplyTo
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client as TwilioClient

from services.common.masking import mask_email, mask_phone
from services.notifier.rendering import RenderedMessage, list_unsubscribe_headers

__all__ = [
    "ConsoleOutbox",
    "EmailMessage",
    "EmailProvider",
    "SendGridEmail",
    "SendResult",
    "SmsMessage",
    "SmsProvider",
    "TwilioSms",
    "compose_email",
]

logger = logging.getLogger(__name__)

Outcome = Literal["sent", "retry", "ambiguous", "opted_out", "failed"]
TWILIO_OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": permanent until START


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider: str
    provider_message_id: str | None = None
    retry_after: float | None = None
    error_code: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SmsMessage:
    notification_id: str
    to: str
    body: str
    status_callback: str | None = None


@dataclass(frozen=True)
class EmailMessage:
    notification_id: str
    to: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None


def compose_email(
    notification_id: str, to: str, rendered: RenderedMessage, *, unsubscribe_url: str, reply_to: str | None
) -> EmailMessage:
    """The email as it is sent: both parts, one-click unsubscribe headers, Reply-To the store's support."""
    return EmailMessage(
        notification_id, to, rendered.subject or "", rendered.text, rendered.html,
        headers=list_unsubscribe_headers(unsubscribe_url, reply_to), reply_to=reply_to or None,
    )


class SmsProvider(Protocol):
    name: str

    async def send_sms(self, message: SmsMessage) -> SendResult: ...
    async def find_sms(self, message: SmsMessage, since: datetime) -> str | None: ...
    async def close(self) -> None: ...


class EmailProvider(Protocol):
    name: str

    async def send_email(self, message: EmailMessage) -> SendResult: ...
    async def find_email(self, message: EmailMessage, since: datetime) -> str | None: ...
    async def close(self) -> None: ...


def _retry_after(headers: Any, default: float) -> float:
    try:
        value = headers.get("Retry-After") if headers is not None else None
        return max(0.0, float(value)) if value is not None else default
    except (TypeError, ValueError):
        return default


_last_twilio_response: contextvars.ContextVar[Response | None] = contextvars.ContextVar("twilio_resp", default=None)


class _RecordingTwilioClient(AsyncTwilioHttpClient):
    """The SDK's async client, remembering each response per task so we can read Retry-After,
    and bounding each request by `timeout` (the SDK keeps the value but does not apply it).

    The request itself is the SDK's, made cheaper where it costs without saying anything: the form is
    url-encoded as aiohttp's `FormData` would (same bytes, without building a multipart writer and a random
    boundary per request), the Basic credentials are encoded once, and the request and response are logged
    (at INFO, as the SDK does) only when that logger would show them."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._request_timeout = timeout
        self._auth: tuple[tuple[str, str], BasicAuth] | None = None

    async def request(
        self, method: str, url: str, params: dict[str, object] | None = None, data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None, timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        _last_twilio_response.set(None)
        if self.session is None or not _url_encodable(data):
            async with asyncio.timeout(self._request_timeout):
                response = await super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
        else:
            kwargs: dict[str, Any] = {
                "method": method.upper(), "url": url, "params": params, "headers": headers,
                "auth": self._basic_auth(auth), "timeout": timeout, "allow_redirects": allow_redirects,
                "data": None if data is None else urlencode(list(data.items()), doseq=True).encode(),
            }
            if self.logger.isEnabledFor(logging.INFO):
                self.log_request(kwargs)
            async with asyncio.timeout(self._request_timeout):
                answer = await self.session.request(**kwargs)
                response = Response(answer.status, await answer.text(), answer.headers)
            if self.logger.isEnabledFor(logging.INFO):
                self.log_response(answer.status, answer)
        _last_twilio_response.set(response)
        return response

    def _basic_auth(self, auth: tuple[str, str] | None) -> BasicAuth | None:
        if auth is None:
            return None
        if self._auth is None or self._auth[0] != auth:
            self._auth = (auth, BasicAuth(login=auth[0], password=auth[1]))
        return self._auth[1]


def _url_encodable(data: dict[str, object] | None) -> bool:
    """Whether `FormData` would url-encode these fields (no file, no bytes: those would make it multipart)."""
    return data is None or all(isinstance(value, str | int | float) for value in data.values())


class TwilioSms:
    """SMS through twilio-python's async client; its own retries off."""

    name = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, *, base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = _RecordingTwilioClient(timeout=timeout)  # max_retries None: no RetryClient
        self.client = TwilioClient(account_sid, auth_token, http_client=self._http, edge=None, region=None)
        self.client.edge = None  # TWILIO_EDGE / TWILIO_REGION would rewrite a custom base URL
        self.client.region = None
        if base_url:
            self.client.api.base_url = base_url.rstrip("/")
        self.from_number = from_number
        self.messages = self.client.messages  # the account's Messages resource, looked up once

    async def send_sms(self, message: SmsMessage) -> SendResult:
        kwargs: dict[str, Any] = {"to": message.to, "from_": self.from_number, "body": message.body}
        if message.status_callback:
            kwargs["status_callback"] = message.status_callback
        try:
            created = await self.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            return self._classify(exc)
        except aiohttp.ClientConnectorError as exc:  # never reached Twilio: safe to repeat
            return SendResult("retry", self.name, retry_after=1.0, reason=f"connect: {exc.__class__.__name__}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult("ambiguous", self.name, reason=f"transport: {exc.__class__.__name__}")
        return SendResult("sent", self.name, provider_message_id=created.sid)

    def _classify(self, exc: TwilioRestException) -> SendResult:
        response = _last_twilio_response.get()
        if exc.status == 429:
            headers = response.headers if response is not None else None
            return SendResult("retry", self.name, retry_after=_retry_after(headers, 1.0), error_code=exc.code,
                              reason="rate_limited")
        if exc.code == TWILIO_OPTED_OUT:
            return SendResult("opted_out", self.name, error_code=exc.code, reason="recipient_unsubscribed")
        if exc.status >= 500:
            return SendResult("ambiguous", self.name, error_code=exc.code, reason=f"http_{exc.status}")
        return SendResult("failed", self.name, error_code=exc.code, reason=f"http_{exc.status}")

    async def find_sms(self, message: SmsMessage, since: datetime) -> str | None:
        """Did an ambiguous send reach Twilio? Look for our exact body to that number since `since`."""
        found = await self.messages.list_async(
            to=message.to, date_sent_after=since - timedelta(days=1), limit=50)
        for item in found:
            if item.body == message.body:
                return str(item.sid)
        return None

    async def close(self) -> None:
        await self._http.close()


class SendGridEmail:
    """Email through the sendgrid SDK (synchronous, so it runs in a worker thread)."""

    name = "sendgrid"

    def __init__(self, api_key: str, from_email: str, *, host: str | None = None) -> None:
        self.client = SendGridAPIClient(api_key, host=host or "https://api.sendgrid.com")
        self.from_email = from_email

    def _mail(self, message: EmailMessage) -> Mail:
        mail = Mail(from_email=self.from_email, to_emails=message.to, subject=message.subject,
                    plain_text_content=message.text, html_content=message.html)
        mail.custom_arg = CustomArg("notification_id", message.notification_id)
        if message.reply_to:
            mail.reply_to = ReplyTo(message.reply_to)
        for name, value in message.headers.items():
            mail.header = Header(name, value)
        return mail

    async def send_email(self, message: EmailMessage) -> SendResult:
        mail = self._mail(message)
        try:
            response = await asyncio.to_thread(self.client.send, mail)
        except HTTPError as exc:
            status = int(getattr(exc, "status_code", 0) or 0)
            if status == 429:
                return SendResult("retry", self.name, retry_after=_retry_after(getattr(exc, "headers", None), 1.0),
                                  reason="rate_limited")
            if status >= 500:
                return SendResult("ambiguous", self.name, reason=f"http_{status}")
            return SendResult("failed", self.name, reason=f"http_{status}")
        except ConnectionRefusedError:
            return SendResult("retry", self.name, retry_after=1.0, reason="connect")
        except (TimeoutError, OSError) as exc:
            return SendResult("ambiguous", self.name, reason=f"transport: {exc.__class__.__name__}")
        message_id = None
        headers = getattr(response, "headers", None)
        if headers is not None:
            message_id = headers.get("X-Message-Id")
        return SendResult("sent", self.name, provider_message_id=message_id or message.notification_id)

    async def find_email(self, message: EmailMessage, since: datetime) -> str | None:
        """Look the message up by its `notification_id` custom arg (Email Activity API)."""
        query = f'unique_args[\'notification_id\']="{message.notification_id}"'

        def _lookup() -> Any:
            return self.client.client.messages.get(query_params={"query": query, "limit": 10})

        try:
            response = await asyncio.to_thread(_lookup)
        except HTTPError:
            return None
        payload = json.loads(response.body or b"{}")
        for item in payload.get("messages", []):
            return str(item.get("msg_id"))
        return None

    async def close(self) -> None:
        return None


class ConsoleOutbox:
    """The default without credentials: every message is appended to a JSON-lines file and logged."""

    name = "console"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()

    async def _write(self, record: dict[str, Any]) -> None:
        async with self._lock:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    async def send_sms(self, message: SmsMessage) -> SendResult:
        await self._write({"channel": "sms", "notification_id": message.notification_id, "to": message.to,
                           "body": message.body})
        logger.info("outbox: SMS %s to %s", message.notification_id, mask_phone(message.to))
        return SendResult("sent", self.name, provider_message_id=f"console-{message.notification_id}")

    async def send_email(self, message: EmailMessage) -> SendResult:
        await self._write({"channel": "email", "notification_id": message.notification_id, "to": message.to,
                           "subject": message.subject, "text": message.text, "headers": message.headers})
        logger.info("outbox: email %s to %s", message.notification_id, mask_email(message.to))
        return SendResult("sent", self.name, provider_message_id=f"console-{message.notification_id}")

    async def _find(self, notification_id: str) -> str | None:
        if not self.path.exists():
            return None
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if json.loads(line).get("notification_id") == notification_id:
                return f"console-{notification_id}"
        return None

    async def find_sms(self, message: SmsMessage, since: datetime) -> str | None:
        return await self._find(message.notification_id)

    async def find_email(self, message: EmailMessage, since: datetime) -> str | None:
        return await self._find(message.notification_id)

    async def close(self) -> None:
        return None
