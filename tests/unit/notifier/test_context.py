"""MessageContext.from_incidents reads incident.detected data duck-typed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, HttpUrl

from schemas import Money
from services.notifier.rendering import MessageContext, StoreInfo, render

pytestmark = pytest.mark.unit

STORE = StoreInfo(name="Acme", support_phone="+1 415 555 0100", help_url="https://acme.example/help")


class Kind(StrEnum):
    STOCKOUT = "stockout"
    NOT_SHIPPED = "not_shipped"


class ContractMoney(BaseModel):
    amount: Decimal
    currency: str


class ContractFacts(BaseModel):
    product_name: str | None = None
    restock_eta: datetime | None = None
    choices: list[str] = []
    order_status_url: HttpUrl | None = None
    refund_amount: ContractMoney | None = None


def _incident(**overrides: Any) -> SimpleNamespace:
    customer = SimpleNamespace(
        id="cus_1",
        first_name=" Ana ",
        last_name=None,
        email="ana@example.com",
        phone="+14155550123",
        locale="de-DE",
        timezone="Europe/Berlin",
    )
    fields: dict[str, Any] = {
        "incident_id": "inc_1",
        "kind": Kind.STOCKOUT,
        "order_id": "ord_1",
        "store_id": "acme",
        "customer": customer,
        "facts": ContractFacts(
            product_name="Wanderschuh",
            restock_eta=datetime(2026, 12, 2, 12, tzinfo=UTC),
            choices=["wait", "cancel_refund", "teleport"],
            order_status_url=HttpUrl("https://acme.example/o/1"),
            refund_amount=ContractMoney(amount=Decimal("12.50"), currency="EUR"),
        ),
        "severity": "high",
        "escalate": False,
        "escalation_tier": None,
        "detected_at": datetime(2026, 11, 20, 9, tzinfo=UTC),
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_reads_contract_objects_duck_typed() -> None:
    ctx = MessageContext.from_incidents([_incident()], store=STORE, timezone_fallback="UTC", order_number="#1001")
    assert ctx.customer_first_name == "Ana"
    assert ctx.locale == "de-DE"
    assert ctx.timezone == "Europe/Berlin"
    assert ctx.order_id == "ord_1" and ctx.order_label == "#1001"
    item = ctx.lead
    assert item.kind == "stockout" and item.severity == "high"
    assert item.facts.order_status_url == "https://acme.example/o/1"
    assert item.facts.refund_amount == Money(amount=Decimal("12.50"), currency="EUR")  # the contract's own type
    assert item.offered_choices == ("wait", "refund")  # the older name read as the catalogue's
    assert ctx.help_url == "https://acme.example/help"
    assert "Wanderschuh" in render(ctx, "sms").text


def test_facts_may_be_a_mapping() -> None:
    ctx = MessageContext.from_incidents(
        [_incident(facts={"product_name": "Mat"})], store=STORE, timezone_fallback="UTC"
    )
    assert ctx.lead.facts.product_name == "Mat"


def test_invalid_customer_timezone_falls_back_to_the_store_zone() -> None:
    bad = _incident(customer=SimpleNamespace(id="cus_1", first_name="Ana", locale="en", timezone="Mars/Base"))
    ctx = MessageContext.from_incidents([bad], store=STORE, timezone_fallback="America/Chicago")
    assert ctx.timezone == "America/Chicago"
    worse = MessageContext.from_incidents([bad], store=STORE, timezone_fallback="../etc/passwd")
    assert worse.timezone == "UTC"


def test_coalesced_incidents_lead_with_the_most_severe_and_flag_escalation() -> None:
    first = _incident(kind=Kind.NOT_SHIPPED, severity="normal", incident_id="a")
    second = _incident(severity="critical", escalate=True, escalation_tier=2, incident_id="b")
    ctx = MessageContext.from_incidents([first, second], store=STORE, timezone_fallback="UTC")
    assert ctx.lead.incident_id == "b"
    assert [i.incident_id for i in ctx.others] == ["a"]
    assert ctx.escalated


def test_one_message_covers_one_order_of_one_customer() -> None:
    with pytest.raises(ValueError, match="one order"):
        MessageContext.from_incidents([_incident(), _incident(order_id="ord_2")], store=STORE, timezone_fallback="UTC")
    with pytest.raises(ValueError, match="at least one"):
        MessageContext.from_incidents([], store=STORE, timezone_fallback="UTC")


def test_context_refuses_an_unknown_zone_and_no_incidents() -> None:
    with pytest.raises(ValueError):
        MessageContext(
            customer_first_name="A",
            store_name="S",
            timezone="Nowhere/Land",
            incidents=MessageContext.from_incidents([_incident()], store=STORE, timezone_fallback="UTC").incidents,
        )
    with pytest.raises(ValueError):
        MessageContext(customer_first_name="A", store_name="S", incidents=())


def test_works_with_the_contract_model() -> None:
    schemas = pytest.importorskip("schemas")
    examples = Path(schemas.__file__).parent / "examples" / "valid"
    event = schemas.parse_event((examples / "incident.detected--stockout-escalated.json").read_bytes())
    ctx = MessageContext.from_incidents([event.data], store=STORE, timezone_fallback="UTC")
    assert ctx.lead.kind == "stockout" and ctx.escalated
    assert ctx.lead.facts.choices == ("wait", "substitute", "cancel_refund")
    sms = render(ctx, "sms")
    assert "Jonas" in sms.text and "Bogenleuchte Messing" in sms.text and "26.05.2026" in sms.text
    email = render(ctx, "email")
    assert "persönlich" in email.text and "26. Mai 2026" in email.text
    plain = schemas.parse_event((examples / "incident.detected.json").read_bytes())
    assert render(MessageContext.from_incidents([plain.data], store=STORE, timezone_fallback="UTC"), "sms").text


def test_a_link_is_refused_for_exactly_the_characters_it_may_not_hold() -> None:
    """Every code point: a link holding it is dropped iff it is whitespace (`str.isspace`), `<`, `>` or `"`."""
    from services.notifier.rendering.context import _NOT_IN_LINKS, _web_url

    every = "".join(map(chr, range(0x110000)))
    assert _NOT_IN_LINKS.findall(every) == [c for c in every if c.isspace() or c in '<>"']
    for c in ("\u3000", "\x1c", "\x85", "\u2028", "<", '"', "\u00a0"):
        assert _web_url(f"https://acme.example/a{c}b") is None
    for c in ("\u200b", "\x00", "'", "é"):  # not whitespace for str.isspace
        assert _web_url(f"https://acme.example/a{c}b") == f"https://acme.example/a{c}b"
