"""Example message contexts for every incident kind and language (preview and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, get_args

from schemas.values import IncidentKind, Money

from .context import IncidentFacts, IncidentItem, MessageContext

__all__ = [
    "EXAMPLE_LOCALES",
    "GALLERY_CUSTOMERS",
    "INCIDENT_KINDS",
    "all_examples",
    "example_context",
    "example_facts",
    "gallery_context",
]

INCIDENT_KINDS: tuple[IncidentKind, ...] = get_args(IncidentKind)
EXAMPLE_LOCALES: tuple[str, ...] = ("en", "de", "es")

_PEOPLE: dict[str, dict[str, str]] = {
    "en": {"name": "Ana", "product": "Trail Runner Pro", "zone": "America/New_York", "cur": "USD"},
    "de": {"name": "Jürgen", "product": "Wanderschuh Alpin", "zone": "Europe/Berlin", "cur": "EUR"},
    "es": {"name": "Begoña", "product": "Zapatillas Sendero", "zone": "Europe/Madrid", "cur": "EUR"},
}

_SHIP_BY = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
_DELIVER_BY = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
_NEW_ETA = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
_RESTOCK = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
_REFUND_BY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def example_facts(kind: IncidentKind, locale: str = "en") -> IncidentFacts:
    """Realistic facts for one incident kind."""
    person = _PEOPLE.get(locale, _PEOPLE["en"])
    money = Money(amount=Decimal("89.90"), currency=person["cur"])
    base: dict[str, Any] = {"product_name": person["product"], "sku": "TRP-42", "quantity": 1}
    shipping = {
        "carrier": "DHL",
        "tracking_number": "JD014600006281234567",
        "tracking_url": "https://track.example/JD0146",
        "promised_delivery_by": _DELIVER_BY,
    }
    refund = {"refund_amount": money, "refund_method": "Visa", "refund_expected_by": _REFUND_BY}
    extra: dict[str, dict[str, Any]] = {
        "not_shipped": {"promised_ship_by": _SHIP_BY, "new_estimated_delivery": _NEW_ETA},
        "tracking_stalled": {**shipping, "new_estimated_delivery": _NEW_ETA},
        "delivery_exception": {**shipping, "exception_reason": "weather", "new_estimated_delivery": _NEW_ETA},
        "eta_slipped": {**shipping, "new_estimated_delivery": _NEW_ETA},
        "not_delivered": {**shipping},
        "stockout": {
            "restock_eta": _RESTOCK,
            "choices": ("wait", "substitute", "cancel_refund"),
            "order_status_url": "https://acme.example/o/1001",
        },
        "backordered": {"restock_eta": _RESTOCK, "choices": ("wait", "cancel_refund")},
        "false_decline": {"amount": money, "retry_url": "https://acme.example/pay/1001"},
        "refund_overdue": refund,
        "return_received": refund,
        "refund_issued": {**refund, "refund_expected_by": None},
        "return_rejected": {"reason_text": _REJECT_REASON.get(locale, _REJECT_REASON["en"])},
        "return_stalled": {"label_url": "https://acme.example/r/77", "refund_expected_by": _REFUND_BY},
        "return_window_exceeded": {},
    }
    return IncidentFacts.model_validate({**base, **extra[kind]})


_REJECT_REASON = {
    "en": "the item shows signs of wear",
    "de": "der Artikel zeigt Gebrauchsspuren",
    "es": "el producto tiene signos de uso",
}


def example_context(
    kind: IncidentKind,
    locale: str = "en",
    *,
    others: tuple[IncidentKind, ...] = (),
    escalated: bool = False,
    **overrides: Any,
) -> MessageContext:
    """A message about `kind` (plus `others` on the same order) for an example customer."""
    person = _PEOPLE.get(locale, _PEOPLE["en"])
    items = [
        IncidentItem(
            kind=kind,
            facts=example_facts(kind, locale),
            severity="high",
            escalated=escalated,
            incident_id=f"inc-{kind}",
        ),
        *(
            IncidentItem(kind=o, facts=example_facts(o, locale), severity="normal", incident_id=f"inc-{o}")
            for o in others
        ),
    ]
    fields: dict[str, Any] = {
        "customer_first_name": person["name"],
        "locale": locale,
        "timezone": person["zone"],
        "store_name": "Acme Outfitters",
        "support_phone": "+1 415 555 0100",
        "support_email": "help@acme.example",
        "help_url": "https://acme.example/help",
        "order_id": "ord_1001",
        "order_number": "#1001",
        "incidents": tuple(items),
        "unsubscribe_url": "https://acme.example/u/abc123",
    }
    return MessageContext.model_validate({**fields, **overrides})


def all_examples() -> Iterator[tuple[IncidentKind, str, MessageContext]]:
    """Every kind in every example language."""
    for locale in EXAMPLE_LOCALES:
        for kind in INCIDENT_KINDS:
            yield kind, locale, example_context(kind, locale)


# The customers the gallery shows every message to: names and products that once broke an SMS.
GALLERY_CUSTOMERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("María", {"name": "María"}),
    ("Zoë", {"name": "Zoë"}),
    ("a long product name", {"product": "Ultra-Lightweight Waterproof Breathable Trail Running Shoe, Size 44 Wide"}),
    ("an emoji", {"name": "Lu 🌸", "product": "Café Crème Cups 🎁"}),
)


def gallery_context(kind: IncidentKind, locale: str, customer: dict[str, str]) -> MessageContext:
    """The example message about `kind` in `locale`, for one of the gallery's customers."""
    ctx = example_context(kind, locale)
    item = ctx.incidents[0]
    facts = item.facts.model_copy(update={"product_name": customer.get("product", item.facts.product_name)})
    return ctx.model_copy(update={
        "customer_first_name": customer.get("name", ctx.customer_first_name),
        "incidents": (item.model_copy(update={"facts": facts}),),
    })
