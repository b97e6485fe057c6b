"""Routing rules: skill, language, priority and queue, each with the reason a person reads on the ticket."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.care.routing import (
    KIND_SKILLS,
    CaseFacts,
    RoutingRules,
    guess_language,
    language_for,
    priority_for,
    queue_for,
    route,
    skill_for,
)
from services.care.settings import CareSettings

RULES = RoutingRules()


def test_every_incident_kind_has_a_skill() -> None:
    from typing import get_args

    from schemas.values import IncidentKind

    assert set(get_args(IncidentKind)) == set(KIND_SKILLS)


@pytest.mark.parametrize(("kinds", "skill"), [
    (["not_shipped"], "delivery"), (["eta_slipped", "not_delivered"], "delivery"), (["stockout"], "stock"),
    (["backordered"], "stock"), (["false_decline"], "payments"), (["refund_overdue"], "returns"),
])
def test_one_skill_per_kind(kinds: list[str], skill: str) -> None:
    chosen, reason, others = skill_for(kinds, RULES)
    assert chosen == skill and others == ()
    assert skill in reason and kinds[0] in reason


def test_a_case_across_skills_goes_to_the_first_in_the_store_order_and_names_the_others() -> None:
    skill, reason, others = skill_for(["not_shipped", "stockout"], RULES)
    assert skill == "stock" and others == ("delivery",)
    assert reason == "stock (stockout) ranks first in the store's skill order over delivery (not_shipped)"
    skill, _, others = skill_for(["not_shipped", "stockout"], RoutingRules(skill_order=("delivery", "stock")))
    assert skill == "delivery" and others == ("stock",)


def test_no_incident_takes_the_default_skill() -> None:
    skill, reason, _ = skill_for([], RoutingRules(default_skill="returns"))
    assert skill == "returns" and "default" in reason


@pytest.mark.parametrize(("locale", "language"), [("es-MX", "es"), ("de_DE", "de"), ("EN-gb", "en"), ("es", "es")])
def test_the_locale_picks_a_staffed_language(locale: str, language: str) -> None:
    chosen, reason = language_for(locale, None, RULES)
    assert chosen == language and locale in reason


def test_an_unstaffed_locale_goes_to_the_default_language() -> None:
    chosen, reason = language_for("fr-FR", "où est mon colis", RULES)
    assert chosen == "en" and "not staffed" in reason
    assert language_for("es-ES", None, RoutingRules(languages=("en",)))[0] == "en"


@pytest.mark.parametrize(("text", "language"), [
    ("Hola, ¿dónde está mi pedido? Todavía no tengo nada", "es"),
    ("Wo ist mein Paket? Ich habe noch nichts bekommen", "de"),
    ("Where is my parcel, I still have nothing", "en"),
])
def test_without_a_locale_the_reply_is_read(text: str, language: str) -> None:
    assert guess_language(text)[0] == language
    chosen, reason = language_for(None, text, RULES)
    assert chosen == language and "reply reads as" in reason


@pytest.mark.parametrize("text", [None, "", "12345 ???", "ok"])
def test_no_clue_is_the_default_language(text: str | None) -> None:
    chosen, reason = language_for(None, text, RULES)
    assert chosen == "en" and "no locale known" in reason


def test_priority_follows_the_tier() -> None:
    assert priority_for(CaseFacts(tier=1), RULES)[0] == "normal"
    assert priority_for(CaseFacts(tier=2), RULES) == ("high", "escalation tier 2: high")
    assert priority_for(CaseFacts(tier=3), RULES)[0] == "urgent"
    assert priority_for(CaseFacts(), RULES) == ("normal", "no escalation tier: normal")


def test_priority_steps_up_for_stakes_and_stops_at_urgent() -> None:
    facts = CaseFacts(tier=1, incident_kinds=["not_shipped", "stockout", "eta_slipped"])
    priority, reason = priority_for(facts, RULES)
    assert priority == "high" and "3 incidents" in reason
    facts = CaseFacts(tier=2, incident_kinds=["not_shipped"], order_values=[Decimal("300.00")])
    priority, reason = priority_for(facts, RULES)
    assert priority == "urgent" and "worth 300.00" in reason
    facts = CaseFacts(tier=3, severities=["critical"], order_values=[Decimal("900")])
    assert priority_for(facts, RULES)[0] == "urgent"
    assert priority_for(CaseFacts(tier=1, order_values=[Decimal("249.99")]), RULES)[0] == "normal"


def test_the_queue_prefers_staff_who_speak_the_language() -> None:
    assert queue_for("stock", "es", RULES)[0] == "es"
    assert queue_for("stock", "en", RULES)[0] == "stock"
    store = RoutingRules(queues=("stock-es", "es", "stock", "delivery"))
    assert queue_for("stock", "es", store)[0] == "stock-es"
    assert queue_for("delivery", "es", store)[0] == "es"
    assert queue_for("delivery", "de", store)[0] == "delivery"
    assert "none of" in queue_for("payments", "en", store)[1]


def test_route_gathers_every_rule_with_its_reason() -> None:
    routing = route(CaseFacts(incident_kinds=["not_shipped", "stockout"], tier=2, locale="es-MX"), RULES)
    assert (routing.skill, routing.language, routing.priority, routing.queue) == ("stock", "es", "high", "es")
    assert set(routing.reasons) == {"skill", "language", "priority", "queue"}
    assert routing.tags() == ["forewarn", "skill_stock", "lang_es", "queue_es", "also_delivery"]


def test_rules_are_configurable_per_store() -> None:
    settings = CareSettings(stores={"acme": {"languages": ["en", "de"], "skill_order": ["delivery", "stock"]}})
    assert settings.rules_for("other") == RoutingRules()
    acme = settings.rules_for("acme")
    assert acme.languages == ("en", "de") and acme.skill_order == ("delivery", "stock")
    with pytest.raises(ValueError, match="skill_order"):
        CareSettings(stores={"acme": {"skill_order": ["plumbing"]}})
