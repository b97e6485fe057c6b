"""What a message needs to know: the customer, the store and the incidents it covers."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.choices import CHOICES, known_choice
from schemas.kinds import SEVERITY_RANK, lead_rank
from schemas.values import ExceptionReason, IncidentKind, Money, Severity

__all__ = [
    "KNOWN_CHOICES",
    "IncidentFacts",
    "IncidentItem",
    "MessageContext",
    "StoreInfo",
    "valid_timezone",
]

_EXCEPTION_REASONS: frozenset[str] = frozenset(get_args(ExceptionReason))

# The choices of the catalogue (schemas/choices.py); anything else in `facts.choices` is not shown.
KNOWN_CHOICES: tuple[str, ...] = CHOICES

_FROZEN = ConfigDict(frozen=True, extra="ignore")
# What a link may not hold: any whitespace (`\s` is `str.isspace()`), angle brackets, a double quote.
_NOT_IN_LINKS = re.compile(r'[\s<>"]')


def valid_timezone(name: str | None) -> bool:
    """True when `name` is an IANA zone this machine can load."""
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _web_url(value: object) -> str | None:
    """Keep only absolute http(s) links; anything else (javascript:, data:, junk) is dropped."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    if _NOT_IN_LINKS.search(text):
        return None
    return text


class IncidentFacts(BaseModel):
    """The facts a message may quote; mirrors the contract's IncidentFacts, all optional."""

    model_config = _FROZEN

    product_name: str | None = None
    sku: str | None = None
    quantity: int | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    exception_reason: str | None = None
    promised_ship_by: datetime | None = None
    promised_delivery_by: datetime | None = None
    # A date alone (the carrier gave no time) stays a date: said as that day in any zone.
    new_estimated_delivery: datetime | date | None = None
    restock_eta: datetime | None = None
    choices: tuple[str, ...] = ()
    retry_url: str | None = None
    amount: Money | None = None
    refund_amount: Money | None = None
    refund_method: str | None = None
    refund_expected_by: datetime | None = None
    reason_text: str | None = None
    label_url: str | None = None
    order_total: Money | None = None
    order_status_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _date_alone(cls, value: Any) -> Any:
        """The contract's `new_estimated_delivery_date` (a date alone) stands for the estimate when set."""
        if isinstance(value, Mapping) and value.get("new_estimated_delivery_date"):
            alone = value["new_estimated_delivery_date"]
            alone = alone if isinstance(alone, date) else date.fromisoformat(str(alone))
            return {**value, "new_estimated_delivery": alone}
        return value

    @field_validator("tracking_url", "retry_url", "label_url", "order_status_url", mode="before")
    @classmethod
    def _links(cls, value: object) -> str | None:
        return _web_url(value)

    @field_validator("choices", mode="before")
    @classmethod
    def _choices(cls, value: object) -> object:
        return () if value is None else value

    @field_validator("exception_reason", mode="before")
    @classmethod
    def _reason(cls, value: object) -> str | None:
        if value is None:
            return None
        text = str(getattr(value, "value", value))
        return text if text in _EXCEPTION_REASONS else "other"


class IncidentItem(BaseModel):
    """One incident as a message sees it."""

    model_config = _FROZEN

    kind: IncidentKind
    facts: IncidentFacts = IncidentFacts()
    severity: Severity = "normal"
    escalated: bool = False
    escalation_tier: int | None = None
    incident_id: str | None = None
    detected_at: datetime | None = None

    @property
    def offered_choices(self) -> tuple[str, ...]:
        """The catalogue's choices among the facts', in the order given, once each (older names read as
        today's: `cancel_refund` is `refund`). Reply number N is the N-th of these."""
        return tuple(dict.fromkeys(c for name in self.facts.choices if (c := known_choice(name)) is not None))

    def lead_key(self) -> tuple[int, int, int, float]:
        """Sort key: most severe first, escalated first, then by the catalogue's lead order, then earliest."""
        at = self.detected_at.timestamp() if self.detected_at else float("inf")
        return (-SEVERITY_RANK[self.severity], not self.escalated, lead_rank(self.kind), at)


class StoreInfo(BaseModel):
    """The store a message speaks for, and how its customers reach a person."""

    model_config = _FROZEN

    name: str
    support_phone: str | None = None
    support_email: str | None = None
    help_url: str | None = None
    timezone: str = "UTC"
    reply_reaches_person: bool = True  # replies to our SMS/email land with the support team

    @field_validator("help_url", mode="before")
    @classmethod
    def _link(cls, value: object) -> str | None:
        return _web_url(value)


class MessageContext(BaseModel):
    """Everything one message renders from; several incidents on one order make one message."""

    model_config = _FROZEN

    customer_first_name: str
    locale: str = "en"
    timezone: str = "UTC"
    store_name: str
    support_phone: str | None = None
    support_email: str | None = None
    help_url: str | None = None
    reply_reaches_person: bool = True
    order_id: str | None = None
    order_number: str | None = None
    incidents: tuple[IncidentItem, ...] = Field(min_length=1)
    unsubscribe_url: str | None = None
    # The promise of the next update ("We'll update you by Friday"); None when the message promises none.
    next_update_at: datetime | None = None
    # 0: the first message about its incidents; n: the nth follow-up, keeping the last message's promise.
    follow_up: int = Field(default=0, ge=0)
    news: bool = False  # a follow-up with something new to say (else: no news yet)
    # Signed links that make each offered choice (email buttons), by choice; none for SMS.
    choice_urls: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not valid_timezone(value):
            raise ValueError("timezone must be a loadable IANA zone name")
        return value

    @field_validator("help_url", "unsubscribe_url", mode="before")
    @classmethod
    def _links(cls, value: object) -> str | None:
        return _web_url(value)

    @field_validator("choice_urls", mode="before")
    @classmethod
    def _choice_links(cls, value: object) -> dict[str, str]:
        links = dict(value) if isinstance(value, Mapping) else {}
        return {str(choice): url for choice, link in links.items() if (url := _web_url(link)) is not None}

    @property
    def ordered(self) -> tuple[IncidentItem, ...]:
        """The incidents, the one that leads the message first."""
        return tuple(sorted(self.incidents, key=IncidentItem.lead_key))

    @property
    def lead(self) -> IncidentItem:
        """The incident the message leads with."""
        return self.ordered[0]

    @property
    def others(self) -> tuple[IncidentItem, ...]:
        """The incidents mentioned briefly after the lead."""
        return self.ordered[1:]

    @property
    def escalated(self) -> bool:
        """True when a person will reach out about any incident of the message."""
        return any(item.escalated for item in self.incidents)

    @property
    def variety(self) -> int:
        """A stable number per incident that picks among equivalent phrasings (openings, apologies).

        Seeded by the lead incident's id, so a message always reads the same when rendered again,
        while four messages in a row do not all open with the same words.
        """
        seed = self.lead.incident_id or self.order_id or self.order_number or ""
        return zlib.crc32(seed.encode("utf-8"))

    @property
    def order_label(self) -> str | None:
        """The order number the customer knows, else the order id."""
        return self.order_number or self.order_id

    @classmethod
    def from_incidents(
        cls,
        incidents: Sequence[Any],
        *,
        store: StoreInfo,
        timezone_fallback: str,
        order_number: str | None = None,
        unsubscribe_url: str | None = None,
        choice_urls: Mapping[str, str] | None = None,
    ) -> MessageContext:
        """Build a context from incident.detected data (read duck-typed), all on one order."""
        if not incidents:
            raise ValueError("a message needs at least one incident")
        first = incidents[0]
        customer = first.customer
        order_ids = {_plain(getattr(item, "order_id", None)) for item in incidents}
        customer_ids = {_plain(getattr(item.customer, "id", None)) for item in incidents}
        if len(order_ids) > 1 or len(customer_ids) > 1:
            raise ValueError("a coalesced message covers one order of one customer")
        zone = _plain(getattr(customer, "timezone", None))
        if not valid_timezone(zone):
            zone = timezone_fallback if valid_timezone(timezone_fallback) else "UTC"
        return cls(
            customer_first_name=str(getattr(customer, "first_name", "") or "").strip(),
            locale=str(_plain(getattr(customer, "locale", None)) or "en"),
            timezone=zone,
            store_name=store.name,
            support_phone=store.support_phone,
            support_email=store.support_email,
            help_url=store.help_url,
            reply_reaches_person=store.reply_reaches_person,
            order_id=_text(getattr(first, "order_id", None)),
            order_number=order_number or _text(getattr(first, "order_number", None)),
            incidents=tuple(_item(incident) for incident in incidents),
            unsubscribe_url=unsubscribe_url,
            choice_urls=dict(choice_urls or {}),
        )


def _plain(value: Any) -> Any:
    """An enum member's value, anything else unchanged."""
    return getattr(value, "value", value)


def _text(value: Any) -> str | None:
    """An id as text (ids may arrive as UUIDs or enums), None kept."""
    value = _plain(value)
    return None if value is None else str(value)


def _facts(value: Any) -> IncidentFacts:
    if value is None:
        return IncidentFacts()
    if isinstance(value, IncidentFacts):
        return value
    if isinstance(value, Mapping):
        return IncidentFacts.model_validate(dict(value))
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return IncidentFacts.model_validate(dump(mode="json"))
    return IncidentFacts.model_validate(vars(value))


def _item(incident: Any) -> IncidentItem:
    return IncidentItem(
        kind=_plain(incident.kind),
        facts=_facts(getattr(incident, "facts", None)),
        severity=_plain(getattr(incident, "severity", "normal")),
        escalated=bool(getattr(incident, "escalate", False)),
        escalation_tier=getattr(incident, "escalation_tier", None),
        incident_id=_text(getattr(incident, "incident_id", None)),
        detected_at=getattr(incident, "detected_at", None),
    )
