"""A local fake of the Twilio and SendGrid HTTP APIs that records every request.

The official SDKs are pointed at it (`client.api.base_url`, `SendGridAPIClient(host=...)`).
Behaviour can be scripted per route: `server.script("twilio", [429, 500, "timeout", 201])` makes
the next sends answer that way in turn (then normal again)."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.fake_http import ThreadedServer

__all__ = ["FakeProviders", "RecordedRequest"]


def _accepted_then_failed(answer: Any) -> bool:
    """A scripted 5xx: the provider took the message, then answered with an error (the ambiguous case)."""
    if answer is None or answer == "timeout":
        return False
    status = answer[0] if isinstance(answer, tuple) else answer
    return 500 <= int(status) < 600


@dataclass
class RecordedRequest:
    service: str  # "twilio" or "sendgrid"
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    at: float = 0.0


class FakeProviders(ThreadedServer):
    """Runs on its own thread and event loop, so sync tests, async tests and other processes can all use it."""

    name = "fake-providers"

    def __init__(self, host: str = "127.0.0.1", timeout_delay: float = 3.0) -> None:
        super().__init__(host)
        self.default_timeout_delay = timeout_delay
        self.timeout_delay = timeout_delay
        self.requests: list[RecordedRequest] = []
        self.messages: list[dict[str, Any]] = []  # what Twilio "accepted" (for list lookups)
        self.mails: list[dict[str, Any]] = []
        self._scripts: dict[str, list[Any]] = {"twilio": [], "sendgrid": []}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- control ---------------------------------------------------------------------------
    def script(self, service: str, answers: list[Any]) -> None:
        """Queue answers for the next sends: an int status, "timeout", or ("status", retry_after)."""
        with self._lock:
            self._scripts[service].extend(answers)

    def sends(self, service: str = "twilio") -> list[RecordedRequest]:
        path = "/Messages.json" if service == "twilio" else "/v3/mail/send"
        with self._lock:
            return [r for r in self.requests if r.service == service and r.method == "POST" and r.path.endswith(path)]

    def reset(self) -> None:
        self.timeout_delay = self.default_timeout_delay
        with self._lock:
            self.requests.clear()
            self.messages.clear()
            self.mails.clear()
            for answers in self._scripts.values():
                answers.clear()

    def wait_for_sends(self, count: int, service: str = "twilio", timeout: float = 30.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sends(service)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        return self.sends(service)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self._twilio_list)
        app.router.add_post("/v3/mail/send", self._sendgrid_send)
        app.router.add_get("/v3/messages", self._sendgrid_messages)
        app.router.add_get("/_recorded", self._recorded)

    # -- handlers --------------------------------------------------------------------------
    def _next_answer(self, service: str) -> Any:
        with self._lock:
            return self._scripts[service].pop(0) if self._scripts[service] else None

    async def _record(self, service: str, request: web.Request) -> RecordedRequest:
        body = await request.read()
        record = RecordedRequest(service, request.method, request.path, dict(request.headers), at=time.time())
        if request.content_type == "application/x-www-form-urlencoded":
            record.form = {k: str(v) for k, v in (await request.post()).items()}
        elif body:
            try:
                record.json = json.loads(body)
            except ValueError:
                record.json = body.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(record)
        return record

    async def _scripted(self, answer: Any, service: str) -> web.Response | None:
        if answer is None:
            return None
        if answer == "timeout":
            await asyncio.sleep(self.timeout_delay)
            return None  # the request was processed, the client gave up waiting
        status, retry_after = (answer if isinstance(answer, tuple) else (answer, None))
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if service == "twilio":
            body = {"code": 20429 if status == 429 else 20500, "message": f"scripted {status}", "status": status}
        else:
            body = {"errors": [{"message": f"scripted {status}"}]}
        return web.json_response(body, status=status, headers=headers)

    async def _twilio_create(self, request: web.Request) -> web.Response:
        record = await self._record("twilio", request)
        answer = self._next_answer("twilio")
        scripted = await self._scripted(answer, "twilio")
        if scripted is not None and not _accepted_then_failed(answer):
            return scripted
        sid = f"SM{next(self._ids):032d}"
        message = {
            "sid": sid, "to": record.form.get("To"), "from": record.form.get("From"), "body": record.form.get("Body"),
            "status": "queued", "account_sid": request.match_info["sid"], "num_segments": "1",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "date_sent": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "uri": f"/2010-04-01/Accounts/{request.match_info['sid']}/Messages/{sid}.json",
        }
        with self._lock:
            self.messages.append(message)
        if scripted is not None:  # a 5xx after the message was accepted: the ambiguous case
            return scripted
        return web.json_response(message, status=201)

    async def _twilio_list(self, request: web.Request) -> web.Response:
        await self._record("twilio", request)
        to = request.query.get("To")
        with self._lock:
            found = [m for m in self.messages if to is None or m["to"] == to]
        return web.json_response({"messages": found, "end": len(found), "first_page_uri": request.path_qs,
                                  "next_page_uri": None, "page": 0, "page_size": 50, "start": 0,
                                  "uri": request.path_qs})

    async def _sendgrid_send(self, request: web.Request) -> web.Response:
        record = await self._record("sendgrid", request)
        answer = self._next_answer("sendgrid")
        scripted = await self._scripted(answer, "sendgrid")
        accepted = scripted is None or _accepted_then_failed(answer)
        message_id = f"sg-{next(self._ids)}"
        if accepted:
            custom = (record.json or {}).get("custom_args", {}) if isinstance(record.json, dict) else {}
            with self._lock:
                self.mails.append({"msg_id": message_id, "custom_args": custom})
        if scripted is not None:
            return scripted
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    async def _recorded(self, request: web.Request) -> web.Response:
        """For a benchmark in another process: when each send arrived, and to whom."""
        with self._lock:
            sends = [{"service": r.service, "to": r.form.get("To") or _first_to(r.json), "at": r.at}
                     for r in self.requests if r.method == "POST"]
        return web.json_response({"sends": sends})

    async def _sendgrid_messages(self, request: web.Request) -> web.Response:
        await self._record("sendgrid", request)
        query = request.query.get("query", "")
        with self._lock:
            found = [m for m in self.mails if m["custom_args"].get("notification_id", "\0") in query]
        return web.json_response({"messages": [{"msg_id": m["msg_id"]} for m in found]})


def _first_to(payload: Any) -> str | None:
    try:
        return str(payload["personalizations"][0]["to"][0]["email"])
    except (KeyError, IndexError, TypeError):
        return None


if __name__ == "__main__":  # serve on its own, for benchmarks: prints the URL, runs until killed
    server = FakeProviders().start()
    print(server.url, flush=True)
    threading.Event().wait()
