"""The choices a customer can make about an incident; which ones each kind offers is in schemas/kinds.py.

Detection puts a kind's choices into `IncidentFacts.choices` (in this order); the notifier
offers them (SMS: "Reply 1 to wait, 2 for a refund"; email: signed links) and turns the
customer's answer into `choice.made` on `customer-actions`, for the store to act on.

| choice | what the store does |
|---|---|
| `wait` | nothing: the customer keeps waiting for the order as it is |
| `cancel` | cancels the order and refunds what was paid |
| `refund` | cancels the affected item (or takes the loss) and refunds it |
| `substitute` | sends a similar item instead, after checking with the customer |
| `reship` | sends a replacement at the store's cost |
| `retry_payment` | sends a fresh payment link |
| `new_date` | arranges a new delivery date with the customer |

A number in an SMS reply is a position in the kind's list (1-based), so the order of a
kind's choices is part of the contract: append, never reorder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, get_args

from schemas.kinds import CATALOGUE, SERIOUS_REASONS
from schemas.values import Choice, ExceptionReason, IncidentKind

__all__ = ["CHOICES", "CHOICES_BY_KIND", "LEGACY_CHOICES", "Choice", "choices_for", "known_choice"]

CHOICES: Final[tuple[Choice, ...]] = get_args(Choice)

CHOICES_BY_KIND: Final[Mapping[IncidentKind, tuple[Choice, ...]]] = {
    kind: spec.choices for kind, spec in CATALOGUE.items() if spec.choices
}
"""What a customer may choose per kind (the catalogue's, schemas/kinds.py); kinds not listed offer no choice
(the store acts or informs)."""

LEGACY_CHOICES: Final[Mapping[str, Choice]] = {"cancel_refund": "refund"}
"""Names older incidents carry, read as today's choice."""


def choices_for(kind: str, exception_reason: ExceptionReason | str | None = None) -> tuple[Choice, ...]:
    """The choices to offer for an incident of `kind`.

    A delivery exception offers a replacement or a refund only when the parcel is lost or
    damaged; weather, customs or a carrier delay leave nothing to choose.
    """
    if kind == "delivery_exception" and exception_reason not in SERIOUS_REASONS:
        return ()
    return next((choices for known, choices in CHOICES_BY_KIND.items() if known == kind), ())


def known_choice(name: str) -> Choice | None:
    """`name` as a catalogue choice (legacy names translated), None when it is not one."""
    for choice in CHOICES:
        if choice == name:
            return choice
    return LEGACY_CHOICES.get(name)
