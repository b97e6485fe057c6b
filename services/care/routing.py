"""Routing a case to the right people: skill, language, priority and queue, each a pure rule with its reason.

Every rule takes what is known of the case and the store's `RoutingRules`, and returns `(value, reason)`:
the reason is written on the ticket, so the person who picks it up sees why it reached them.

* **skill** — from the kinds of the case's incidents: delivery (not shipped, stalled, exception, slipped,
  not delivered), stock (stockout, backordered), payments (false decline), returns (the return and refund
  journey). A case that spans several skills goes to the one ranked first in the store's `skill_order`
  (default: payments, returns, stock, delivery — money and a choice to make before a late parcel); the
  others become tags. A case with no incident (a reply not understood) goes to `default_skill`.
* **language** — the customer's locale, reduced to its language (`es-MX` -> `es`), when the store staffs it
  (`languages`, default en, de, es); an unknown locale is guessed from the words of the customer's reply;
  anything else goes to `default_language`.
* **priority** — from the escalation tier (`tier_priority`, default 1 normal, 2 high, 3 urgent; no tier:
  normal), one step up for many incidents (`many_incidents`, default 3), one for a critical incident, one for
  a valuable order (`high_value`, default 250 in the order's currency), capped at urgent.
* **queue** — the most specific queue the store has: `<skill>-<language>`, then `<language>` when it is not
  the default language (a Spanish speaker first: a customer who cannot be understood is not helped), then
  `<skill>`. The desk maps a queue to its own group (`CareSettings.zendesk_groups`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "KIND_SKILLS",
    "PRIORITIES",
    "CaseFacts",
    "Priority",
    "Routing",
    "RoutingRules",
    "Skill",
    "guess_language",
    "language_for",
    "priority_for",
    "queue_for",
    "route",
    "skill_for",
]

Skill = Literal["delivery", "stock", "payments", "returns"]
Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")

_TIER_PRIORITY: dict[int, Priority] = {1: "normal", 2: "high", 3: "urgent"}

KIND_SKILLS: dict[str, Skill] = {
    "not_shipped": "delivery",
    "tracking_stalled": "delivery",
    "delivery_exception": "delivery",
    "eta_slipped": "delivery",
    "not_delivered": "delivery",
    "stockout": "stock",
    "backordered": "stock",
    "false_decline": "payments",
    "refund_overdue": "returns",
    "return_received": "returns",
    "refund_issued": "returns",
    "return_rejected": "returns",
    "return_stalled": "returns",
    "return_window_exceeded": "returns",
}


class RoutingRules(BaseModel):
    """One store's routing knobs; `CareSettings.routing` holds the defaults and per-store overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill_order: tuple[Skill, ...] = ("payments", "returns", "stock", "delivery")
    default_skill: Skill = "delivery"
    languages: tuple[str, ...] = ("en", "de", "es")
    default_language: str = "en"
    tier_priority: dict[int, Priority] = Field(default_factory=lambda: _TIER_PRIORITY.copy())
    many_incidents: int = Field(default=3, ge=1)
    high_value: Decimal = Field(default=Decimal("250"), ge=0)
    queues: tuple[str, ...] = Field(
        default=(), description="the queues the store has; empty: every name this rule can give is a queue")


@dataclass(frozen=True)
class CaseFacts:
    """What routing needs to know of a case, gathered by the hand-off from the events and the story."""

    incident_kinds: Sequence[str] = ()
    severities: Sequence[str] = ()
    tier: int | None = None
    locale: str | None = None
    reply_text: str | None = None
    order_values: Sequence[Decimal] = ()


@dataclass(frozen=True)
class Routing:
    """Where a case goes and why, one reason per rule."""

    skill: Skill
    language: str
    priority: Priority
    queue: str
    also_skills: tuple[Skill, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    def tags(self) -> list[str]:
        """Desk tags: what a help desk's own triggers and views can route on."""
        tags = ["forewarn", f"skill_{self.skill}", f"lang_{self.language}", f"queue_{self.queue}"]
        tags += [f"also_{skill}" for skill in self.also_skills]
        return tags


def skill_for(kinds: Iterable[str], rules: RoutingRules) -> tuple[Skill, str, tuple[Skill, ...]]:
    """The skill the case needs, why, and the other skills it touches."""
    present: dict[Skill, list[str]] = {}
    for kind in kinds:
        skill = KIND_SKILLS.get(kind)
        if skill is not None:
            present.setdefault(skill, []).append(kind)
    if not present:
        return rules.default_skill, f"no incident to go by: the store's default skill ({rules.default_skill})", ()
    ranked = [skill for skill in rules.skill_order if skill in present]
    ranked += [skill for skill in present if skill not in ranked]
    chosen = ranked[0]
    reason = f"{chosen} ({', '.join(sorted(set(present[chosen])))})"
    if len(ranked) > 1:
        reason += " ranks first in the store's skill order over " + ", ".join(
            f"{skill} ({', '.join(sorted(set(present[skill])))})" for skill in ranked[1:])
    return chosen, reason, tuple(ranked[1:])


# A handful of frequent words per language: enough to tell a short SMS in English, German or Spanish apart.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_HINTS: dict[str, frozenset[str]] = {
    "en": _words("the and is are my i you please when where what not no yes order parcel package want help "
                    "thanks thank with have has it this"),
    "de": _words("der die das und ist nicht ich mein meine wo wann was bitte danke paket bestellung noch "
                    "kein keine ja nein mit haben habe warum wie sie"),
    "es": _words("el la los las y es no mi mis yo donde dónde cuando cuándo qué que por favor gracias paquete "
                    "pedido todavía aún sí con tengo quiero para porque cómo ustedes nada"),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def guess_language(text: str | None) -> tuple[str | None, int]:
    """The language of a short text by its frequent words, and how many words spoke for it (None: no clue).

    A tie is no answer: a person reads it in the default language rather than a wrong one."""
    if not text:
        return None, 0
    words = [word.casefold() for word in _WORD.findall(text)]
    counts = {language: sum(word in hints for word in words) for language, hints in _HINTS.items()}
    best = max(counts.values())
    winners = [language for language, count in counts.items() if count == best]
    if best == 0 or len(winners) > 1:
        return None, 0
    return winners[0], best


def language_for(locale: str | None, reply_text: str | None, rules: RoutingRules) -> tuple[str, str]:
    """The language the customer is served in, and why."""
    if locale:
        language = locale.replace("_", "-").split("-")[0].casefold()
        if language in rules.languages:
            return language, f"the customer's locale is {locale}"
        return rules.default_language, (
            f"the customer's locale {locale} is not staffed ({', '.join(rules.languages)}): "
            f"{rules.default_language}")
    guessed, hints = guess_language(reply_text)
    if guessed is not None and guessed in rules.languages:
        return guessed, f"no locale known: the customer's reply reads as {guessed} ({hints} words)"
    return rules.default_language, f"no locale known and no language read in the reply: {rules.default_language}"


def _step_up(priority: Priority) -> Priority:
    return PRIORITIES[min(PRIORITIES.index(priority) + 1, len(PRIORITIES) - 1)]


def priority_for(facts: CaseFacts, rules: RoutingRules) -> tuple[Priority, str]:
    """The ticket's priority, and why: the tier sets it, what raises the stakes moves it up."""
    if facts.tier is None:
        priority: Priority = "normal"
        reasons = ["no escalation tier: normal"]
    else:
        priority = rules.tier_priority.get(facts.tier, "normal")
        reasons = [f"escalation tier {facts.tier}: {priority}"]
    incidents = len(facts.incident_kinds)
    if incidents >= rules.many_incidents:
        priority = _step_up(priority)
        reasons.append(f"{incidents} incidents (at least {rules.many_incidents}): up to {priority}")
    if "critical" in facts.severities:
        priority = _step_up(priority)
        reasons.append(f"a critical incident: up to {priority}")
    top = max(facts.order_values, default=None)
    if top is not None and rules.high_value and top >= rules.high_value:
        priority = _step_up(priority)
        reasons.append(f"an order worth {top} (at least {rules.high_value}): up to {priority}")
    return priority, "; ".join(reasons)


def queue_for(skill: Skill, language: str, rules: RoutingRules) -> tuple[str, str]:
    """The most specific queue the store has for this skill and language, and why."""
    candidates = [f"{skill}-{language}"]
    if language != rules.default_language:
        candidates.append(language)
    candidates.append(skill)
    if not rules.queues:
        chosen = candidates[1] if language != rules.default_language else candidates[-1]
        why = ("staff who speak it come first" if language != rules.default_language else
               "the skill's queue")
        return chosen, f"{chosen}: {why}"
    for candidate in candidates:
        if candidate in rules.queues:
            return candidate, f"{candidate}: the first of {', '.join(candidates)} the store has"
    return skill, f"{skill}: none of {', '.join(candidates)} is a queue of the store; the skill's name"


def route(facts: CaseFacts, rules: RoutingRules) -> Routing:
    """Every rule over one case."""
    skill, skill_reason, others = skill_for(facts.incident_kinds, rules)
    language, language_reason = language_for(facts.locale, facts.reply_text, rules)
    priority, priority_reason = priority_for(facts, rules)
    queue, queue_reason = queue_for(skill, language, rules)
    return Routing(skill=skill, language=language, priority=priority, queue=queue, also_skills=others,
                   reasons={"skill": skill_reason, "language": language_reason, "priority": priority_reason,
                            "queue": queue_reason})
