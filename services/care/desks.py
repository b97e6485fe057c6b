"""Help desks at the edge: Zendesk through zenpy, a signed JSON webhook for any other desk, a local outbox.

Every desk answers the same four questions for the hand-off: open this ticket, find the ticket opened under
this external id, add this comment, and is this comment (by its marker) already there. An error says what
is known of the call's fate:

* `DeskUnavailable` — it did not happen (refused connection, 429, 503 before processing): send again;
* `DeskAmbiguous` — it may have happened (a 5xx, a timeout after the request left): look it up first;
* `DeskRejected` — the desk refuses it for good (4xx): kept in the ledger with why, not retried.

zenpy is synchronous (requests): its calls run on a small thread pool of their own, off the event loop,
with requests' adapter retries off (zenpy adds them only to a session it makes itself) and zenpy's own
wait on a 429 bounded by `ratelimit_budget`. A base URL (a local fake in tests, a proxy) is honoured by a
transport adapter that sends what is addressed to `https://<subdomain>.zendesk.com` there.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import requests
import requests.adapters

from services.common.masking import mask_pii

__all__ = [
    "ConsoleDesk",
    "Desk",
    "DeskAmbiguous",
    "DeskError",
    "DeskRejected",
    "DeskUnavailable",
    "WebhookDesk",
    "ZendeskDesk",
    "sign",
]

logger = logging.getLogger(__name__)


class DeskError(Exception):
    """A desk call that did not succeed."""


class DeskUnavailable(DeskError):
    """The call did not happen: safe to send again."""


class DeskAmbiguous(DeskError):
    """The call may have happened: look it up before sending again."""


class DeskRejected(DeskError):
    """The desk refuses the call for good."""


class Desk(Protocol):
    name: str

    async def create(self, ticket: dict[str, Any]) -> str:
        """Open the ticket; its id at the desk."""

    async def find(self, external_id: str) -> str | None:
        """The id of the ticket opened under `external_id`, or None if there is none."""

    async def comment(self, ticket_id: str, body: str, *, marker: str, external_id: str) -> None:
        """Add an internal note to the ticket; `marker` is in the text, so `has_comment` finds it."""

    async def has_comment(self, ticket_id: str, marker: str) -> bool:
        """Whether a comment carrying `marker` is on the ticket."""

    async def is_open(self, ticket_id: str) -> bool:
        """False once the desk has solved or closed the ticket (then the next case opens a new one)."""

    async def close(self) -> None: ...


def _status_error(status: int, detail: str) -> DeskError:
    """Sort an HTTP status by what is known of the call's fate."""
    if status == 429:
        return DeskUnavailable(f"429 {detail}")
    if status in (408,) or status >= 500:
        return DeskAmbiguous(f"{status} {detail}")
    return DeskRejected(f"{status} {detail}")


# -- Zendesk -----------------------------------------------------------------------------------------------

class _BaseUrlAdapter(requests.adapters.HTTPAdapter):
    """A transport that sends what zenpy addresses to `https://<subdomain>.zendesk.com` to `base_url` instead.

    The request keeps the address zenpy asked for once answered: zenpy picks how to read a response by its
    URL. No transport retries (`max_retries=0`): retries are the hand-off's decision."""

    def __init__(self, origin: str, base_url: str) -> None:
        super().__init__(max_retries=0)
        self.origin = origin.rstrip("/")
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        asked = request.url or ""
        if asked.startswith(self.origin):
            request.url = self.base_url + asked[len(self.origin):]
        try:
            response = super().send(request, *args, **kwargs)
        finally:
            request.url = asked
        response.url = asked
        return response


class ZendeskDesk:
    """Zendesk Support through zenpy: tickets with `external_id`, internal notes, group by queue."""

    name = "zendesk"

    def __init__(self, *, subdomain: str, email: str, token: str, base_url: str | None = None,
                 timeout_s: float = 10.0, ratelimit_budget_s: int = 60, groups: dict[str, int] | None = None,
                 threads: int = 4) -> None:
        try:  # imported here: nothing connects, nothing heavy, until a desk is built
            from zenpy import Zenpy
        except ImportError as missing:
            raise RuntimeError("the zendesk desk needs the optional `zendesk` extra (zenpy, GPLv3): "
                               "pip install 'forewarn[zendesk]'") from missing

        origin = f"https://{subdomain}.zendesk.com"
        session = requests.Session()  # zenpy mounts retries only on a session of its own making
        if base_url:
            session.mount(origin, _BaseUrlAdapter(origin, base_url))
        self.client = Zenpy(subdomain=subdomain, email=email, token=token, session=session, timeout=timeout_s,
                            ratelimit_budget=ratelimit_budget_s)
        self.groups = groups or {}
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zendesk")

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        except DeskError:
            raise
        except Exception as exc:
            raise _zendesk_error(exc) from exc

    async def create(self, ticket: dict[str, Any]) -> str:
        from zenpy.lib.api_objects import Comment, Ticket, User

        group = self.groups.get(ticket["queue"])
        fields: dict[str, Any] = {
            "subject": ticket["subject"], "priority": ticket["priority"], "tags": ticket["tags"],
            "external_id": ticket["external_id"], "comment": Comment(body=ticket["body"], public=False),
        }
        if group is not None:
            fields["group_id"] = group
        if ticket.get("requester_email"):
            fields["requester"] = User(name=ticket.get("requester_name") or "Customer",
                                       email=ticket["requester_email"])
        audit = await self._call(self.client.tickets.create, Ticket(**fields))
        return str(audit.ticket.id)

    async def find(self, external_id: str) -> str | None:
        def lookup() -> str | None:
            for found in self.client.tickets(external_id=external_id):
                if getattr(found, "external_id", None) == external_id:
                    return str(found.id)
            return None

        return await self._call(lookup)  # type: ignore[no-any-return]

    async def comment(self, ticket_id: str, body: str, *, marker: str, external_id: str) -> None:
        from zenpy.lib.api_objects import Comment, Ticket

        await self._call(self.client.tickets.update,
                         Ticket(id=int(ticket_id), comment=Comment(body=body, public=False)))

    async def has_comment(self, ticket_id: str, marker: str) -> bool:
        def lookup() -> bool:
            return any(marker in (comment.body or "") for comment in self.client.tickets.comments(int(ticket_id)))

        return await self._call(lookup)  # type: ignore[no-any-return]

    async def is_open(self, ticket_id: str) -> bool:
        def lookup() -> bool:
            return self.client.tickets(id=int(ticket_id)).status not in ("solved", "closed")

        return await self._call(lookup)  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _zendesk_error(exc: Exception) -> DeskError:
    from zenpy.lib.exception import RatelimitBudgetExceeded

    if isinstance(exc, RatelimitBudgetExceeded):  # 429s all along: Zendesk processed none of them
        return DeskUnavailable("rate limited past the budget")
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return _status_error(status, exc.__class__.__name__)
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ConnectTimeout):
        # refused or reset: refused never reached the desk; reset may have — only refused is safe to resend
        cause = str(exc)
        if "Connection refused" in cause or "Failed to establish" in cause:
            return DeskUnavailable(f"connection refused: {exc.__class__.__name__}")
        return DeskAmbiguous(f"connection lost: {exc.__class__.__name__}")
    if isinstance(exc, requests.ConnectTimeout):
        return DeskUnavailable("connect timeout")
    if isinstance(exc, requests.Timeout):
        return DeskAmbiguous("read timeout")
    return DeskAmbiguous(f"{exc.__class__.__name__}: {mask_pii(str(exc))[:120]}")


# -- a signed JSON webhook ----------------------------------------------------------------------------------

def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver checks both and the window."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookDesk:
    """POSTs each ticket and comment as signed JSON to one URL, for any desk or a Slack/Teams bridge.

    Headers: `X-Forewarn-Signature` (see `sign`), `Idempotency-Key` (the case's external id for a ticket, the
    comment's marker for a comment: the same on every retry, so the receiver can drop repeats), and
    `X-Forewarn-Event` (`ticket.opened`, `ticket.comment`). A 429 waits what Retry-After asks; a 5xx, a
    timeout or a dropped connection is retried with backoff under the same key, up to `max_attempts`. The
    receiver's own dedupe on the key is what makes these retries safe; so `find` and `has_comment` cannot
    ask it, and the hand-off sends again under the same key instead of looking up."""

    name = "webhook"

    def __init__(self, *, url: str, secret: str, timeout_s: float = 10.0, max_attempts: int = 4,
                 backoff_s: float = 0.5, backoff_max_s: float = 8.0) -> None:
        self.url = url
        self.secret = secret.encode()
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._session: aiohttp.ClientSession | None = None

    async def create(self, ticket: dict[str, Any]) -> str:
        answer = await self._post("ticket.opened", ticket, key=ticket["external_id"])
        return str(answer.get("id") or ticket["external_id"])

    async def find(self, external_id: str) -> str | None:
        return None  # nothing to ask: the retry carries the same Idempotency-Key

    async def comment(self, ticket_id: str, body: str, *, marker: str, external_id: str) -> None:
        await self._post("ticket.comment", {"ticket_id": ticket_id, "external_id": external_id, "marker": marker,
                                            "body": body}, key=marker)

    async def has_comment(self, ticket_id: str, marker: str) -> bool:
        return False

    async def is_open(self, ticket_id: str) -> bool:
        return True

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, event: str, payload: dict[str, Any], *, key: str) -> dict[str, Any]:
        body = json.dumps({"event": event, **payload}, sort_keys=True, separators=(",", ":")).encode()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        delay = self.backoff_s
        maybe_reached = False
        last: DeskError = DeskUnavailable("not sent")
        for attempt in range(1, self.max_attempts + 1):
            headers = {"Content-Type": "application/json", "Idempotency-Key": key, "X-Forewarn-Event": event,
                       "X-Forewarn-Signature": sign(self.secret, int(time.time()), body)}
            wait = delay
            try:
                async with self._session.post(self.url, data=body, headers=headers) as response:
                    text = await response.text()
                    if 200 <= response.status < 300:
                        try:
                            answer = json.loads(text) if text else {}
                        except ValueError:
                            answer = {}
                        return answer if isinstance(answer, dict) else {}
                    last = _status_error(response.status, event)
                    if isinstance(last, DeskRejected):
                        raise last
                    if response.status == 429:
                        wait = _retry_after(response.headers.get("Retry-After"), delay)
                    else:
                        maybe_reached = True
            except aiohttp.ClientConnectorError:
                last = DeskUnavailable("connection refused")
            except (TimeoutError, aiohttp.ClientError) as exc:
                maybe_reached = True
                last = DeskAmbiguous(exc.__class__.__name__)
            if attempt < self.max_attempts:
                logger.warning("webhook desk %s attempt %d: %s; again in %.1fs", event, attempt, last, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.backoff_max_s)
        raise DeskAmbiguous(str(last)) if maybe_reached else last


def _retry_after(value: str | None, default: float) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


# -- a local outbox (make run, no desk configured) ----------------------------------------------------------

class ConsoleDesk:
    """Appends tickets and comments to a JSON-lines file and logs a line: the default for `make run`."""

    name = "console"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")

    async def create(self, ticket: dict[str, Any]) -> str:
        self._append({"event": "ticket.opened", **ticket})
        logger.info("ticket %s for queue %s (%s)", ticket["external_id"], ticket["queue"], ticket["priority"])
        return str(ticket["external_id"])

    async def find(self, external_id: str) -> str | None:
        found = [r for r in self._records() if r.get("event") == "ticket.opened" and r["external_id"] == external_id]
        return external_id if found else None

    async def comment(self, ticket_id: str, body: str, *, marker: str, external_id: str) -> None:
        self._append({"event": "ticket.comment", "ticket_id": ticket_id, "marker": marker, "body": body})
        logger.info("comment on ticket %s", ticket_id)

    async def has_comment(self, ticket_id: str, marker: str) -> bool:
        return any(r.get("marker") == marker for r in self._records())

    async def is_open(self, ticket_id: str) -> bool:
        return True

    async def close(self) -> None:
        return None
