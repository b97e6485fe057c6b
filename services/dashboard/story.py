"""A customer's story on the dashboard, as pure functions: what the ops user typed, and one timeline.

`parse_query` reads the search box: the store's order number (`#1001`, or `1001`), a phone number or an
email address, whole or in its masked form (`+*******0123`, `a***@example.com`), or a customer or order id.
A whole contact is never compared or shown as typed: it is normalised (digits with their `+`, an email in
lower case) and kept as a keyed digest (`contact_digest`), so the page can carry the search in its address
as the masked form plus the digest, and a candidate matches when one of its normal forms has that digest.

`build_timeline` lays the sources side by side, oldest first: each incident as detected, each message as
the customer saw it (SMS bubble, email subject and text), what became of it (delivered, failed; or why it
was not sent), resolutions, the customer's replies, choices and feedback, and the tickets and notes care
opened.
Phone numbers and email addresses in any text are masked (`services.common.masking`), the store's support
line in a message body included.

`store_event` reads a record of the store's topics (order placed, carrier scans, payments, returns) as a
timeline entry with a few facts, masked.

`open_tickets_by_skill` counts care's open cases per skill, with their priorities."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from schemas import ORDERS, PAYMENTS, RETURNS, SHIPMENTS, ContractError, parse_event
from services.common.masking import mask_email, mask_phone, mask_pii
from services.dashboard.views import mask_address, utc_iso

__all__ = [
    "DELIVERY_OUTCOMES",
    "OPEN_CASE_STATES",
    "STORE_TOPICS",
    "ContactQuery",
    "CustomerHit",
    "StoryQuery",
    "build_timeline",
    "contact_digest",
    "customer_summary",
    "open_tickets_by_skill",
    "orders_of",
    "parse_query",
    "store_event",
]

DELIVERY_OUTCOMES = ("delivered", "undelivered", "failed", "bounced")
"""States a provider reports after a message was sent: each becomes its own item on the timeline."""
NOT_SENT = ("suppressed", "withdrawn")
OPEN_CASE_STATES = ("reserved", "sending", "ambiguous", "done")
"""A care case in one of these states and not closed is an open ticket (or one on its way to the desk)."""
PRIORITIES = ("urgent", "high", "normal", "low")
_FACTS = (
    ("product_name", "product"), ("quantity", "quantity"), ("carrier", "carrier"),
    ("tracking_number", "tracking"), ("exception_reason", "cause"), ("promised_ship_by", "promised ship-by"),
    ("promised_delivery_by", "promised delivery"), ("new_estimated_delivery", "new estimate"),
    ("new_estimated_delivery_date", "new estimate"), ("restock_eta", "restock expected"), ("amount", "amount"),
    ("refund_amount", "refund"), ("refund_expected_by", "refund expected by"), ("order_total", "order total"),
)
STORE_TOPICS = (ORDERS, SHIPMENTS, PAYMENTS, RETURNS)
"""The store's own topics, keyed by order id: where the store events of a customer's orders are."""
_STORE_DETAILS = (
    "order_name", "status", "carrier", "tracking_number", "exception_reason", "estimated_delivery",
    "estimated_delivery_date", "checkpoint_location", "total", "amount", "refund_amount", "decline_code",
    "outcome_type", "reason", "shipping_method", "promised_ship_by", "promised_delivery_by",
)
_ORDER_OF_ITEMS = {"store_event": -1, "incident": 0, "message": 1, "not_sent": 1, "delivery": 2, "reply": 3,
                   "choice": 4, "resolved": 5, "feedback": 6, "ticket": 7,
                   "note": 8}
_PHONE_TYPED = re.compile(r"\+?[0-9 ()./\-\u00a0]{7,}")
_MASKED_PHONE = re.compile(r"\+?[* ()./\-]*\*[* ()./\-]*[0-9]{2,4}")
"""A phone number as masked: stars (and separators) then the two or four digits kept, nothing else in clear."""
_MASKED_EMAIL = re.compile(r"[^@*\s]?\*+@[^@*\s]+")
"""An email address as masked: at most the first character of the local part, stars, and the domain."""
_MIN_NATIONAL_DIGITS = 7


# -- the search box -----------------------------------------------------------------------------

def contact_digest(key: bytes, normal: str) -> str:
    """A keyed digest of a contact's normal form: what the page's address carries instead of the contact."""
    return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()[:32]


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isdigit())


def _phone_normal(typed: str) -> str:
    """`+1 (415) 555-0123` -> `+14155550123`; `0049 151 ...` -> `+49151...`; a national `0151 ...` -> `151...`."""
    digits = _digits(typed)
    if typed.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    return digits.removeprefix("0")


def _phone_forms(stored: str) -> set[str]:
    """The normal forms a stored number answers to: whole with its `+`, and its national tails."""
    digits = _digits(stored)
    forms = {"+" + digits} if stored.strip().startswith("+") else {digits}
    forms.update(digits[start:] for start in range(1, len(digits) - _MIN_NATIONAL_DIGITS + 1))
    return forms


@dataclass(frozen=True)
class ContactQuery:
    """A phone number or email address to find, by its masked form and, when it was typed whole, its digest.

    `like` is the SQL LIKE pattern that narrows the candidates (the kept digits, or the first letter and the
    domain); `matches` decides each candidate."""

    channel: Literal["sms", "email"]
    masked: str
    digest: str | None = None

    @property
    def tail(self) -> str:
        """What both forms show in clear: the kept digits of a phone, the domain of an email (lower case)."""
        if self.channel == "sms":
            found = re.search(r"([0-9]+)\s*$", self.masked)
            return found.group(1) if found else ""
        return self.masked.rpartition("@")[2].lower()

    @property
    def head(self) -> str:
        """The first letter of an email's local part as the mask keeps it ('' for a phone, or when none is kept)."""
        if self.channel == "sms":
            return ""
        local = self.masked.rpartition("@")[0]
        return local[:1].lower() if local[:1] not in ("", "*") else ""

    def matches(self, key: bytes, stored: str | None) -> bool:
        if not stored:
            return False
        if self.channel == "sms":
            if "@" in stored or not _digits(stored).endswith(self.tail):
                return False
            if self.digest is not None:
                return any(hmac.compare_digest(contact_digest(key, form), self.digest) for form in _phone_forms(stored))
            return _squash(mask_phone(stored)) == _squash(self.masked)
        if "@" not in stored:
            return False
        normal = stored.strip().lower()
        if self.digest is not None:
            return hmac.compare_digest(contact_digest(key, normal), self.digest)
        return mask_email(normal) == self.masked.lower()


def _squash(text: str) -> str:
    return re.sub(r"[^0-9*+]", "", text)


@dataclass(frozen=True)
class StoryQuery:
    """What to look for. `shown` is what the page may echo back; `redirect` is set when the text held a whole
    contact: the address to send the browser to instead (masked form and digest), so the contact never
    stays in the address bar or the history."""

    shown: str
    ids: tuple[str, ...] = ()
    order_numbers: tuple[str, ...] = ()
    contact: ContactQuery | None = None
    whole_contact: bool = False


def parse_query(text: str, key: bytes, *, digest: str | None = None) -> StoryQuery | None:
    """Read what the ops user typed (None for nothing). `digest` comes back from the redirect of a whole contact."""
    typed = text.strip()
    if not typed or len(typed) > 320:
        return None
    typed = typed.replace("\uff20", "@").replace("\uff0b", "+")
    if "@" in typed:
        if _MASKED_EMAIL.fullmatch(typed):
            return StoryQuery(shown=typed, contact=ContactQuery("email", typed.lower(), digest))
        if "*" in typed or " " in typed:
            return StoryQuery(shown=mask_pii(typed))
        normal = typed.lower()
        return StoryQuery(shown=mask_email(normal), whole_contact=True,
                          contact=ContactQuery("email", mask_email(normal), contact_digest(key, normal)))
    if "*" in typed:
        if _MASKED_PHONE.fullmatch(typed):
            return StoryQuery(shown=typed, contact=ContactQuery("sms", typed, digest))
        return StoryQuery(shown=mask_pii(typed))
    if typed.startswith("#"):
        return StoryQuery(shown=mask_pii(typed), order_numbers=(typed,), ids=(typed,))
    bare = typed.isascii() and typed.isdigit()
    count = len(_digits(typed))
    if (bare and 8 <= count <= 15) or (not bare and _PHONE_TYPED.fullmatch(typed) and 7 <= count <= 15):
        normal = _phone_normal(typed)
        contact = ContactQuery("sms", mask_phone(normal), contact_digest(key, normal))
        if not bare:  # written as a phone number (a `+`, spaces, dashes): nothing else
            return StoryQuery(shown=contact.masked, contact=contact, whole_contact=True)
        # bare digits: a phone number, or an order number or id the store gave
        return StoryQuery(shown=contact.masked, ids=(typed,), order_numbers=("#" + typed, typed), contact=contact,
                          whole_contact=True)
    numbers = ("#" + typed, typed) if typed.isascii() and typed.isdigit() else (typed,)
    return StoryQuery(shown=mask_pii(typed), ids=(typed,), order_numbers=numbers)


@dataclass(frozen=True)
class CustomerHit:
    """A customer the search found, and how (`order #1001`, `phone`, `customer id`, ...)."""

    customer_id: str
    matched_by: tuple[str, ...] = ()
    orders: tuple[str, ...] = field(default=())

    def view(self) -> dict[str, Any]:
        return {"customer_id": mask_pii(self.customer_id), "link_id": self.customer_id,
                "matched_by": list(self.matched_by), "orders": list(self.orders)}


# -- store events ---------------------------------------------------------------------------------

def _detail(value: Any) -> str:
    if isinstance(value, Mapping) and "amount" in value:
        return f"{value['amount']} {value.get('currency', '')}".strip()
    return str(value)


def orders_of(deliveries: Iterable[Mapping[str, Any]]) -> dict[str, str | None]:
    """The orders a customer's ledger rows name: order id -> the store's number (None where none is known)."""
    orders: dict[str, str | None] = {}
    for row in deliveries:
        order_id = row.get("order_id") or incident_data(row).get("order_id")
        if order_id:
            number = incident_data(row).get("order_number")
            orders[str(order_id)] = orders.get(str(order_id)) or (str(number) if number else None)
    return orders


def store_event(raw: bytes | None, topic: str, orders: Mapping[str, str | None]) -> dict[str, Any] | None:
    """A record of one of the store's topics (`topic`: its registry name) as a timeline entry, when it is
    about one of `orders` (order id -> the store's number, if known); None otherwise, or when it breaks the
    contract. Only a few facts are kept (status, carrier, amounts, dates), masked: never the customer's
    contacts, which the order carries."""
    try:
        event = parse_event(raw or b"", topic=topic)
    except ContractError:
        return None
    data = event.model_dump(mode="json").get("data") or {}
    order_id = data.get("order_id")
    if not isinstance(order_id, str) or order_id not in orders:
        return None
    details = [{"label": name.replace("_", " "), "value": mask_pii(_detail(data[name]))}
               for name in _STORE_DETAILS if data.get(name) not in (None, "", [], {})]
    return {"at": event.time, "event_type": event.type, "event_id": event.id,
            "order": orders[order_id] or order_id, "details": details}


# -- the timeline -----------------------------------------------------------------------------

def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _masked(value: Any) -> str | None:
    return None if value is None else mask_pii(str(value))


def incident_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of the incident event a ledger row keeps ({} when it keeps none or it does not parse)."""
    try:
        data = json.loads(row.get("incident") or "").get("data")
    except (ValueError, AttributeError):
        return {}
    return data if isinstance(data, dict) else {}


def _facts(facts: Any) -> list[dict[str, str]]:
    if not isinstance(facts, Mapping):
        return []
    shown: list[dict[str, str]] = []
    for name, label in _FACTS:
        value = facts.get(name)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, Mapping) and "amount" in value:
            value = f"{value['amount']} {value.get('currency', '')}".strip()
        shown.append({"label": label, "value": mask_pii(str(value))})
    choices = facts.get("choices")
    if isinstance(choices, list) and choices:
        names = [str(c.get("choice", c)) if isinstance(c, Mapping) else str(c) for c in choices]
        shown.append({"label": "choices offered", "value": mask_pii(", ".join(names))})
    return shown


def _order_label(data: Mapping[str, Any], row: Mapping[str, Any]) -> str | None:
    label = data.get("order_number") or data.get("order_id") or row.get("order_id")
    return str(label) if label else None


@dataclass(frozen=True)
class _Item:
    at: datetime
    type: str
    key: str
    fields: dict[str, Any]

    def view(self, focus_order: str | None) -> dict[str, Any]:
        order = self.fields.get("order")
        return {"at": utc_iso(self.at), "type": self.type, "key": self.key,
                "in_focus": bool(focus_order and order == focus_order), **self.fields}


def build_timeline(
    *, deliveries: Iterable[Mapping[str, Any]], resolved: Iterable[Mapping[str, Any]] = (),
    replies: Iterable[Mapping[str, Any]] = (), choices: Iterable[Mapping[str, Any]] = (),
    cases: Iterable[Mapping[str, Any]] = (), entries: Iterable[Mapping[str, Any]] = (),
    store_events: Iterable[Mapping[str, Any]] = (), feedback: Iterable[Mapping[str, Any]] = (),
    focus_order: str | None = None,
) -> list[dict[str, Any]]:
    """One customer's timeline, oldest first, from rows of the notifier's ledger (`deliveries`,
    `resolved_incidents`) and care's (`care_replies`, `care_choices`, `care_cases`, `care_entries`).

    A delivery row holds the incident it is about: each incident appears once, at its detection time. A row
    that was sent (or is on its way, or deferred) is a message, at the time it was written; the rows that
    rode along in it (`joined`, reason = its notification id) add their incidents to it. What a provider
    reported afterwards (delivered, failed, ...) is an item of its own at the time it was recorded. A row
    that was suppressed or withdrawn says why no message went. Store events (`store_event` entries) come first
    among items of the same second. `feedback` entries (`feedback.feedback_items`, already masked) are the
    customer's scores, each with the incident it rated."""
    rows = list(deliveries)
    items: list[_Item] = []
    orders_of: dict[str, str | None] = {}
    joined: dict[str, list[str]] = {}
    for row in rows:
        data = incident_data(row)
        incident_id = str(row.get("incident_id") or data.get("incident_id") or "")
        order = _order_label(data, row)
        orders_of.setdefault(incident_id, order)
        if row.get("state") == "joined" and row.get("reason"):
            joined.setdefault(str(row["reason"]), []).append(incident_id)
        if data and not any(i.type == "incident" and i.key == f"incident:{incident_id}" for i in items):
            items.append(_Item(
                _time(data.get("detected_at")) or _time(row.get("created_at")) or datetime.min.replace(tzinfo=UTC),
                "incident", f"incident:{incident_id}", {
                    "incident_id": incident_id, "kind": data.get("kind"), "order": order,
                    "severity": data.get("severity"), "escalate": bool(data.get("escalate")),
                    "escalation_tier": data.get("escalation_tier"), "facts": _facts(data.get("facts")),
                }))
    for row in rows:
        state = str(row.get("state") or "")
        if state == "joined":
            continue
        notification_id = str(row.get("notification_id") or "")
        incident_id = str(row.get("incident_id") or "")
        created = _time(row.get("created_at")) or datetime.min.replace(tzinfo=UTC)
        channel = row.get("channel")
        common = {"notification_id": notification_id, "channel": channel, "order": orders_of.get(incident_id),
                  "reason": _masked(row.get("reason"))}
        if state in NOT_SENT:
            items.append(_Item(created, "not_sent", f"not_sent:{notification_id}",
                               {**common, "state": state, "incident_ids": [incident_id]}))
            continue
        items.append(_Item(created, "message", f"message:{notification_id}", {
            **common, "state": state, "to": mask_address(channel, row.get("address")),
            "subject": _masked(row.get("subject")), "body": _masked(row.get("body")),
            "due_at": utc_iso(_time(row.get("due_at"))), "provider": row.get("provider"),
            "incident_ids": [incident_id, *joined.get(notification_id, [])],
        }))
        if state in DELIVERY_OUTCOMES:
            items.append(_Item(_time(row.get("updated_at")) or created, "delivery", f"delivery:{notification_id}",
                               {**common, "state": state}))
    known = set(orders_of)
    for row in resolved:
        incident_id = str(row.get("incident_id") or "")
        if incident_id in known:
            items.append(_Item(_time(row.get("resolved_at")) or datetime.min.replace(tzinfo=UTC), "resolved",
                               f"resolved:{incident_id}", {"incident_id": incident_id,
                                                           "order": orders_of.get(incident_id),
                                                           "reason": _masked(row.get("reason"))}))
    for row in replies:
        items.append(_Item(_time(row.get("received_at")) or datetime.min.replace(tzinfo=UTC), "reply",
                           f"reply:{row.get('event_id')}", {"channel": row.get("channel"),
                                                             "body": _masked(row.get("body")),
                                                             "in_reply_to": row.get("in_reply_to")}))
    for row in choices:
        items.append(_Item(_time(row.get("made_at")) or datetime.min.replace(tzinfo=UTC), "choice",
                           f"choice:{row.get('event_id')}", {
                               "choice": row.get("choice"), "channel": row.get("channel"),
                               "order": row.get("order_label") or orders_of.get(str(row.get("incident_id"))),
                               "incident_id": row.get("incident_id")}))
    numbers: dict[Any, Any] = {}
    for row in cases:
        numbers[row.get("id")] = row.get("number")
        items.append(_Item(_time(row.get("created_at")) or datetime.min.replace(tzinfo=UTC), "ticket",
                           f"ticket:{row.get('id')}", _case_fields(row)))
    for row in entries:
        first_line = str(row.get("body") or "").strip().splitlines()[:1]
        items.append(_Item(_time(row.get("created_at")) or datetime.min.replace(tzinfo=UTC), "note",
                           f"note:{row.get('id')}", {"case_number": numbers.get(row.get("case_id")),
                                                      "state": row.get("state"),
                                                      "headline": mask_pii(first_line[0]) if first_line else None}))
    for event in store_events:
        items.append(_Item(_time(event.get("at")) or datetime.min.replace(tzinfo=UTC), "store_event",
                           f"store_event:{event.get('event_id')}", {
                               "event_type": event.get("event_type"), "order": event.get("order"),
                               "details": list(event.get("details") or [])}))
    for answer in feedback:
        items.append(_Item(_time(answer.get("at")) or datetime.min.replace(tzinfo=UTC), "feedback",
                           f"feedback:{answer.get('feedback_id')}", {
                               "score": answer.get("score"), "text": _masked(answer.get("text")),
                               "incident_id": answer.get("incident_id"), "kind": answer.get("kind"),
                               "order": answer.get("order"), "channel": answer.get("channel")}))
    items.sort(key=lambda item: (item.at, _ORDER_OF_ITEMS[item.type], item.key))
    return [item.view(focus_order) for item in items]


def _case_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    try:
        ticket = json.loads(row.get("ticket") or "{}")
    except ValueError:
        ticket = {}
    subject = ticket.get("subject") if isinstance(ticket, dict) else None
    closed = bool(row.get("closed"))
    return {
        "case_number": row.get("number"), "state": row.get("state"), "closed": closed,
        "open": (not closed) and row.get("state") in OPEN_CASE_STATES,
        "ticket_id": row.get("ticket_id"), "desk": row.get("desk"), "skill": row.get("skill"),
        "language": row.get("language"), "priority": row.get("priority"), "queue": row.get("queue"),
        "subject": _masked(subject), "error": _masked(row.get("error")),
    }


def customer_summary(customer_id: str, deliveries: Sequence[Mapping[str, Any]],
                     profile: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Who the story is about: id, store, first name, locale, contacts masked, orders by the store's number."""
    customer: Mapping[str, Any] = {}
    store: str | None = None
    orders: list[str] = []
    for row in deliveries:
        data = incident_data(row)
        found = data.get("customer")
        customer = found if isinstance(found, Mapping) else customer
        store = data.get("store_id") or store
        label = _order_label(data, row)
        if label and label not in orders:
            orders.append(label)
    profile = profile or {}
    phone = profile.get("phone") or customer.get("phone")
    email = profile.get("email") or customer.get("email")
    return {
        "customer_id": mask_pii(customer_id), "store_id": profile.get("store_id") or store,
        "first_name": _masked(profile.get("first_name") or customer.get("first_name")),
        "locale": profile.get("locale") or customer.get("locale"),
        "phone": mask_phone(phone) if phone else None, "email": mask_email(email) if email else None,
        "orders": orders,
    }


# -- tickets ----------------------------------------------------------------------------------

def open_tickets_by_skill(cases: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Care's open cases per skill: how many, per priority, how many are not at the desk yet, the oldest."""
    by_skill: dict[str, dict[str, Any]] = {}
    for case in cases:
        if case.get("closed") or case.get("state") not in OPEN_CASE_STATES:
            continue
        skill = str(case.get("skill") or "unrouted")
        row = by_skill.setdefault(skill, {"skill": skill, "open": 0, **dict.fromkeys(PRIORITIES, 0),
                                          "not_at_desk": 0, "oldest": None})
        row["open"] += 1
        priority = str(case.get("priority") or "normal")
        if priority in PRIORITIES:
            row[priority] += 1
        if case.get("state") != "done":
            row["not_at_desk"] += 1
        opened = _time(case.get("created_at"))
        if opened is not None and (row["oldest"] is None or opened < row["oldest"]):
            row["oldest"] = opened
    rows = sorted(by_skill.values(), key=lambda r: (-r["open"], r["skill"]))
    return [{**row, "oldest": utc_iso(row["oldest"])} for row in rows]
