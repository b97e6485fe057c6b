"""The customer's story, as a ticket tells it: who, which orders, every incident, message, reply and choice.

Pure: built from the notifier's ledger rows (each incident as detected and each message as rendered and
sent) and the replies care heard, and written as plain text a person reads top to bottom, oldest first,
with times in UTC. Every item has a key (`incident:<id>`, `message:<notification id>`, `reply:<event id>`,
`choice:<event id>`)
so a later comment adds only what the ticket does not yet say.

The customer's phone and email are masked (the last digits, the first letter and the domain): the desk
answers through its own requester record, and a ticket is read, quoted and exported by many people.
Messages are shown whole, as the customer saw them; so are replies, which are the customer's own words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.common.masking import mask_email, mask_phone

__all__ = [
    "Story",
    "StoryChoice",
    "StoryIncident",
    "StoryMessage",
    "StoryReply",
    "build_story",
    "render_addition",
    "render_ticket",
]

_SENT_STATES = ("sent", "delivered", "undelivered", "failed", "bounced", "sending", "ambiguous")
_FACT_LABELS = (
    ("product_name", "product"), ("quantity", "quantity"), ("carrier", "carrier"),
    ("tracking_number", "tracking"), ("exception_reason", "cause"), ("promised_ship_by", "promised ship-by"),
    ("promised_delivery_by", "promised delivery"), ("new_estimated_delivery", "new estimate"),
    ("restock_eta", "restock expected"), ("choices", "choices offered"), ("amount", "amount"),
    ("refund_amount", "refund"), ("refund_expected_by", "refund expected by"), ("order_total", "order total"),
)


@dataclass(frozen=True)
class StoryIncident:
    incident_id: str
    kind: str
    order_id: str | None
    at: datetime
    severity: str
    facts: Mapping[str, Any]
    order_number: str | None = None

    @property
    def order_label(self) -> str | None:
        """The order as the customer knows it (the store's number), else its id."""
        return self.order_number or self.order_id

    @property
    def key(self) -> str:
        return f"incident:{self.incident_id}"

    def order_value(self) -> Decimal | None:
        total = self.facts.get("order_total")
        try:
            return Decimal(str(total["amount"])) if isinstance(total, Mapping) else None
        except (KeyError, InvalidOperation):
            return None


@dataclass(frozen=True)
class StoryMessage:
    notification_id: str
    channel: str
    state: str
    at: datetime
    to: str | None  # masked
    subject: str | None
    body: str | None
    incident_ids: tuple[str, ...]
    due_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"message:{self.notification_id}"


@dataclass(frozen=True)
class StoryReply:
    event_id: str
    channel: str
    at: datetime
    body: str | None

    @property
    def key(self) -> str:
        return f"reply:{self.event_id}"


@dataclass(frozen=True)
class StoryChoice:
    event_id: str
    choice: str
    channel: str
    at: datetime
    order_label: str | None
    incident_id: str

    @property
    def key(self) -> str:
        return f"choice:{self.event_id}"


@dataclass(frozen=True)
class Story:
    customer_id: str
    store_id: str
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    phone: str | None = None  # masked
    email: str | None = None  # masked
    incidents: tuple[StoryIncident, ...] = ()
    messages: tuple[StoryMessage, ...] = ()
    replies: tuple[StoryReply, ...] = ()
    choices: tuple[StoryChoice, ...] = ()
    missing_incidents: tuple[str, ...] = field(default=())

    def item_keys(self) -> list[str]:
        return ([i.key for i in self.incidents] + [m.key for m in self.messages] + [r.key for r in self.replies]
                + [c.key for c in self.choices])

    def order_labels(self) -> list[str]:
        return sorted({label for i in self.incidents if (label := i.order_label)})


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else "?"


def build_story(
    *, customer_id: str, store_id: str, deliveries: Iterable[Mapping[str, Any]], replies: Iterable[StoryReply],
    choices: Iterable[StoryChoice] = (), profile: Mapping[str, Any] | None = None,
    expected_incidents: Sequence[str] = (),
) -> Story:
    """One customer's story from the notifier's delivery rows (columns of `deliveries`) and the replies heard.

    A delivery row carries the incident it is about (the event as JSON); a message is the row that was sent
    (or is waiting: deferred, reserved), and the rows that rode along in it (`joined`, reason = its
    notification id) name its other incidents."""
    incidents: dict[str, StoryIncident] = {}
    customer: Mapping[str, Any] = {}
    rows = list(deliveries)
    for row in rows:
        event = json.loads(row["incident"]) if row.get("incident") else None
        data = (event or {}).get("data", {})
        if data:
            customer = data.get("customer") or customer
            incidents.setdefault(data["incident_id"], StoryIncident(
                incident_id=data["incident_id"], kind=data["kind"], order_id=data.get("order_id"),
                at=_parse_time(data.get("detected_at")) or row["created_at"], severity=data.get("severity", "normal"),
                facts=data.get("facts") or {}, order_number=data.get("order_number")))
    joined: dict[str, list[str]] = {}
    for row in rows:
        if row["state"] == "joined" and row.get("reason"):
            joined.setdefault(row["reason"], []).append(row["incident_id"])
    messages = []
    for row in rows:
        if row["state"] in ("joined", "suppressed", "withdrawn"):
            continue
        address = row.get("address")
        to = None
        if address:
            to = mask_email(address) if "@" in address else mask_phone(address)
        messages.append(StoryMessage(
            notification_id=row["notification_id"], channel=row["channel"], state=row["state"],
            at=row["updated_at"] if row["state"] in _SENT_STATES else row["created_at"], to=to,
            subject=row.get("subject"), body=row.get("body"),
            incident_ids=(row["incident_id"], *joined.get(row["notification_id"], [])), due_at=row.get("due_at")))
    profile = profile or {}
    phone, email = customer.get("phone"), customer.get("email")
    return Story(
        customer_id=customer_id, store_id=store_id,
        first_name=profile.get("first_name") or customer.get("first_name"),
        last_name=profile.get("last_name") or customer.get("last_name"),
        locale=profile.get("locale") or customer.get("locale"),
        phone=mask_phone(phone) if phone else None, email=mask_email(email) if email else None,
        incidents=tuple(sorted(incidents.values(), key=lambda i: (i.at, i.incident_id))),
        messages=tuple(sorted(messages, key=lambda m: (m.at, m.notification_id))),
        replies=tuple(sorted(replies, key=lambda r: (r.at, r.event_id))),
        choices=tuple(sorted(choices, key=lambda c: (c.at, c.event_id))),
        missing_incidents=tuple(i for i in expected_incidents if i not in incidents),
    )


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _facts(facts: Mapping[str, Any]) -> str:
    parts = []
    for name, label in _FACT_LABELS:
        value = facts.get(name)
        if value in (None, "", []):
            continue
        if isinstance(value, Mapping) and "amount" in value:
            value = f"{value['amount']} {value.get('currency', '')}".strip()
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{label}: {value}")
    return "; ".join(parts)


def _timeline(story: Story, only: set[str] | None = None) -> list[str]:
    lines: list[tuple[datetime, int, str]] = []
    for incident in story.incidents:
        if only is None or incident.key in only:
            order = f" on order {incident.order_label}" if incident.order_label else ""
            facts = _facts(incident.facts)
            lines.append((incident.at, 0, f"{_when(incident.at)}  INCIDENT {incident.kind}{order} "
                                          f"(severity {incident.severity}){' — ' + facts if facts else ''}"))
    for message in story.messages:
        if only is None or message.key in only:
            what = "SMS" if message.channel == "sms" else message.channel.upper()
            state = message.state if message.state != "deferred" else f"deferred until {_when(message.due_at)}"
            about = ", ".join(message.incident_ids)
            head = f"{_when(message.at)}  {what} to {message.to or '?'} ({state}; about {about})"
            text = [head]
            if message.subject:
                text.append(f"    Subject: {message.subject}")
            text.append("    " + (message.body or "(not rendered yet)").replace("\n", "\n    "))
            lines.append((message.at, 1, "\n".join(text)))
    for reply in story.replies:
        if only is None or reply.key in only:
            what = "SMS" if reply.channel == "sms" else reply.channel.upper()
            body = (reply.body or "(empty)").replace("\n", "\n    ")
            lines.append((reply.at, 2, f"{_when(reply.at)}  REPLY by {what}:\n    {body}"))
    for choice in story.choices:
        if only is None or choice.key in only:
            what = "SMS" if choice.channel == "sms" else choice.channel
            order = f" on order {choice.order_label}" if choice.order_label else ""
            lines.append((choice.at, 3, f"{_when(choice.at)}  CHOICE {choice.choice}{order} by {what} "
                                        f"(about {choice.incident_id})"))
    return [text for _, _, text in sorted(lines, key=lambda line: (line[0], line[1]))]


def _routing_lines(routing: Mapping[str, str], reasons: Mapping[str, str]) -> list[str]:
    return [f"  {name}: {routing[name]} — {reasons.get(name, '')}" for name in ("skill", "language", "priority",
                                                                                "queue")]


def render_ticket(story: Story, *, headline: str, routing: Mapping[str, str], reasons: Mapping[str, str]
                  ) -> tuple[str, str]:
    """The ticket's subject and first (internal) comment: the whole story so far."""
    name = " ".join(part for part in (story.first_name, story.last_name) if part) or "the customer"
    orders = story.order_labels()
    subject = f"[{routing['skill']}] {name}: {headline}" + (f" (order {', '.join(orders)})" if orders else "")
    contact = ", ".join(part for part in (f"phone {story.phone}" if story.phone else "",
                                           f"email {story.email}" if story.email else "") if part)
    lines = [
        f"Forewarn hand-off: {headline}.",
        "",
        f"Customer: {name} (id {story.customer_id}, store {story.store_id}), locale {story.locale or 'unknown'}"
        + (f", {contact}" if contact else ""),
        f"Orders: {', '.join(orders) if orders else 'none named'}",
        f"Incidents: {len(story.incidents)}; messages: {len(story.messages)}; replies: {len(story.replies)}; "
        f"choices: {len(story.choices)}",
        "",
        "Routing:",
        *_routing_lines(routing, reasons),
        "",
        "Story (oldest first):",
        *_timeline(story),
    ]
    if story.missing_incidents:
        lines += ["", f"Not in the message ledger yet: {', '.join(story.missing_incidents)}"]
    return subject[:250], "\n".join(lines)


def render_addition(story: Story, *, headline: str, new_keys: Sequence[str], marker: str) -> str:
    """A comment for an open ticket: why it is added to, and the story's items the ticket does not have."""
    timeline = _timeline(story, set(new_keys))
    lines = [f"Forewarn: {headline}.", ""]
    lines += ["Since the last note:", *timeline] if timeline else ["Nothing new in the story since the last note."]
    lines += ["", f"[{marker}]"]
    return "\n".join(lines)
