"""A local fake of the Zendesk Support tickets API that records every request, for the real zenpy client.

zenpy is pointed at it by `FOREWARN_CARE_ZENDESK_BASE_URL` (care's session rewrites the Zendesk host).
Answers can be scripted for the next ticket creations: `fake.script([500, "timeout", 429, 422])`; a 5xx
or a timeout creates the ticket and then fails (the ambiguous case), 429 and 422 create nothing; and for
the next updates (`route="update"`: a 5xx adds the note, then fails). `hold()`
makes creations wait (ticket created, no answer) until `release()`: a process can be killed mid-call.
Also served, for the generic webhook desk: `POST /hook` records signed JSON and answers 201, or as scripted
(`fake.script([503], route="hook")`)."""

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

__all__ = ["FakeZendesk", "Recorded"]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    at: float = field(default_factory=time.time)


class FakeZendesk(ThreadedServer):
    """Runs on its own thread and event loop, so sync tests, async tests and other processes can use it."""

    name = "fake-zendesk"

    def __init__(self, host: str = "127.0.0.1", timeout_delay: float = 3.0) -> None:
        super().__init__(host)
        self.timeout_delay = timeout_delay
        self.requests: list[Recorded] = []
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self._scripts: dict[str, list[Any]] = {"tickets": [], "update": [], "hook": []}
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._held = threading.Event()
        self._held.set()

    # -- control -----------------------------------------------------------------------------
    def script(self, answers: list[Any], route: str = "tickets") -> None:
        with self._lock:
            self._scripts[route].extend(answers)

    def hold(self) -> None:
        """Creations from now on are recorded and the ticket made, but not answered until `release`."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def reset(self) -> None:
        self.release()
        with self._lock:
            self.requests.clear()
            self.tickets.clear()
            self.comments.clear()
            for answers in self._scripts.values():
                answers.clear()

    def created(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path == "/api/v2/tickets.json"]

    def hooks(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == "/hook"]

    def tickets_for(self, tag: str) -> list[dict[str, Any]]:
        with self._lock:
            return [t for t in self.tickets.values() if tag in t.get("tags", [])]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.1)
        return predicate()

    def stop(self) -> None:
        self.release()
        super().stop()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v2/tickets.json", self._create)
        app.router.add_get("/api/v2/tickets.json", self._list)
        app.router.add_get("/api/v2/tickets/{id}.json", self._show)
        app.router.add_put("/api/v2/tickets/{id}.json", self._update)
        app.router.add_get("/api/v2/tickets/{id}/comments.json", self._comments)
        app.router.add_post("/hook", self._hook)

    # -- handlers ----------------------------------------------------------------------------
    async def _record(self, request: web.Request) -> Recorded:
        body = await request.read()
        record = Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        if body:
            try:
                record.json = json.loads(body)
            except ValueError:
                record.json = None
        with self._lock:
            self.requests.append(record)
        return record

    def _next(self, route: str) -> Any:
        with self._lock:
            return self._scripts[route].pop(0) if self._scripts[route] else None

    async def _create(self, request: web.Request) -> web.Response:
        record = await self._record(request)
        answer = self._next("tickets")
        if answer in (429, 422, 401):
            headers = {"Retry-After": "1"} if answer == 429 else {}
            return web.json_response({"error": "scripted", "description": f"scripted {answer}"}, status=answer,
                                     headers=headers)
        payload = dict((record.json or {}).get("ticket", {}))
        ticket_id = next(self._ids)
        comment = payload.pop("comment", None)
        requester = payload.pop("requester", None)  # Zendesk makes (or finds) the user; the ticket names its id
        if requester is not None:
            payload["requester_id"] = ticket_id * 3
        ticket = {**payload, "id": ticket_id, "status": "new", "url": f"{self.url}/api/v2/tickets/{ticket_id}.json",
                  "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self._lock:
            self.tickets[ticket_id] = ticket
            self.comments[ticket_id] = [{"id": ticket_id * 10, **comment}] if comment else []
        while not self._held.is_set():
            await asyncio.sleep(0.05)
        if answer == "timeout":
            await asyncio.sleep(self.timeout_delay)
            return web.json_response({"error": "too late"}, status=504)
        if isinstance(answer, int) and answer >= 500:
            return web.json_response({"error": "scripted", "description": "scripted 5xx"}, status=answer)
        return web.json_response({"ticket": ticket, "audit": {"id": ticket_id * 7, "ticket_id": ticket_id,
                                                              "events": []}}, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        await self._record(request)
        external_id = request.query.get("external_id")
        with self._lock:
            found = [t for t in self.tickets.values() if external_id is None or t.get("external_id") == external_id]
        return web.json_response({"tickets": found, "count": len(found), "next_page": None, "previous_page": None,
                                  "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                                  "links": {"next": None, "prev": None}})

    async def _show(self, request: web.Request) -> web.Response:
        await self._record(request)
        ticket = self.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            return web.json_response({"error": "RecordNotFound", "description": "Not found"}, status=404)
        return web.json_response({"ticket": ticket})

    async def _update(self, request: web.Request) -> web.Response:
        record = await self._record(request)
        ticket_id = int(request.match_info["id"])
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return web.json_response({"error": "RecordNotFound", "description": "Not found"}, status=404)
        payload = dict((record.json or {}).get("ticket", {}))
        comment = payload.pop("comment", None)
        with self._lock:
            ticket.update({k: v for k, v in payload.items() if k != "id"})
            if comment:
                self.comments[ticket_id].append({"id": ticket_id * 10 + len(self.comments[ticket_id]), **comment})
        answer = self._next("update")
        if isinstance(answer, int) and answer >= 500:  # the note is on the ticket; the answer says otherwise
            return web.json_response({"error": "scripted", "description": "scripted 5xx"}, status=answer)
        return web.json_response({"ticket": ticket, "audit": {"id": ticket_id * 7 + 1, "ticket_id": ticket_id,
                                                              "events": []}})

    async def _comments(self, request: web.Request) -> web.Response:
        await self._record(request)
        found = self.comments.get(int(request.match_info["id"]), [])
        return web.json_response({"comments": found, "count": len(found), "next_page": None, "previous_page": None,
                                  "meta": {"has_more": False, "after_cursor": None, "before_cursor": None},
                                  "links": {"next": None, "prev": None}})

    async def _hook(self, request: web.Request) -> web.Response:
        await self._record(request)
        answer = self._next("hook")
        if answer == "timeout":
            await asyncio.sleep(self.timeout_delay)
        if answer is not None and answer != "timeout":
            return web.json_response({"error": "scripted"}, status=int(answer))
        return web.json_response({"id": f"hook-{next(self._ids)}"}, status=201)
