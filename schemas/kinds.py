"""The catalogue of incident kinds: each kind's severity, lead order, escalation class and choices.

One table that detection (order_watcher and returns), the escalation rule, the notification
policy and rendering all read, so that a kind means the same everywhere:

* **severity**: how urgent the kind is for the notifier (a lost or damaged parcel is raised to
  critical, see `severity_for`).
* **lead order**: the catalogue lists the kinds in the order in which they lead a coalesced
  message when severities tie: what the customer can act on first, then what changes their
  plans, then plain updates.
* **escalation class**: `journey` is an update on a journey the customer started (or a store
  decision), never a bad experience of ours; `simple` counts as trouble and escalates at tier 1;
  `complex` needs an agent who can move money or file a claim: at least tier 2.
* **choices**: what the customer may choose (see `schemas.choices`: a reply number is a position
  in this list, so append, never reorder).

`IncidentKind` (schemas/values.py) is the contract's list of kinds; a unit test holds the two and
the generated JSON Schema and AsyncAPI files together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from schemas.values import Choice, ExceptionReason, IncidentKind, Severity

__all__ = [
    "CATALOGUE",
    "LEAD_ORDER",
    "SERIOUS_REASONS",
    "SEVERITIES",
    "SEVERITY_RANK",
    "EscalationClass",
    "KindSpec",
    "escalation_class",
    "kinds_of",
    "lead_rank",
    "severity_for",
    "severity_rank",
]

EscalationClass = Literal["journey", "simple", "complex"]


@dataclass(frozen=True)
class KindSpec:
    """What the contract says about one incident kind."""

    severity: Severity
    escalation: EscalationClass
    choices: tuple[Choice, ...] = ()


CATALOGUE: Final[Mapping[IncidentKind, KindSpec]] = MappingProxyType({
    "false_decline": KindSpec("high", "simple", ("retry_payment", "cancel")),
    "stockout": KindSpec("high", "simple", ("wait", "refund", "substitute")),
    "backordered": KindSpec("normal", "simple", ("wait", "refund", "substitute")),
    "delivery_exception": KindSpec("high", "simple", ("reship", "refund")),
    "not_delivered": KindSpec("high", "simple", ("wait", "reship", "refund")),
    "eta_slipped": KindSpec("normal", "simple", ("wait", "cancel")),
    "not_shipped": KindSpec("normal", "simple", ("wait", "cancel")),
    "tracking_stalled": KindSpec("normal", "simple"),
    "refund_overdue": KindSpec("high", "complex"),
    "return_rejected": KindSpec("normal", "journey"),
    "return_window_exceeded": KindSpec("normal", "journey"),
    "return_stalled": KindSpec("low", "complex"),
    "refund_issued": KindSpec("low", "journey"),
    "return_received": KindSpec("low", "journey"),
})
"""Every incident kind of the contract, in lead order."""

LEAD_ORDER: Final[tuple[IncidentKind, ...]] = tuple(CATALOGUE)
"""The kinds in the order they lead a message when severities tie."""

SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
"""The severities, least urgent first."""

SEVERITY_RANK: Final[Mapping[str, int]] = MappingProxyType({name: rank for rank, name in enumerate(SEVERITIES)})

SERIOUS_REASONS: Final[frozenset[ExceptionReason]] = frozenset({"lost", "damaged"})
"""Carrier exceptions that need a claim or a replacement: critical, complex, and the only ones offering choices."""

_LEAD_RANK: Final[Mapping[str, int]] = {kind: rank for rank, kind in enumerate(LEAD_ORDER)}
_BY_NAME: Final[Mapping[str, KindSpec]] = {str(kind): spec for kind, spec in CATALOGUE.items()}


def severity_for(kind: str, exception_reason: str | None = None) -> Severity:
    """How urgent an incident of `kind` is: the catalogue's, raised to critical for a lost or damaged parcel."""
    if exception_reason in SERIOUS_REASONS:
        return "critical"
    spec = _spec(kind)
    return spec.severity if spec is not None else "normal"


def escalation_class(kind: str, exception_reason: str | None = None) -> EscalationClass:
    """How an incident of `kind` counts for escalation; a lost or damaged parcel is complex."""
    spec = _spec(kind)
    if spec is not None and spec.escalation == "journey":
        return "journey"
    if exception_reason in SERIOUS_REASONS:
        return "complex"
    return spec.escalation if spec is not None else "simple"


def kinds_of(escalation: EscalationClass) -> frozenset[IncidentKind]:
    """The kinds of one escalation class."""
    return frozenset(kind for kind, spec in CATALOGUE.items() if spec.escalation == escalation)


def lead_rank(kind: str) -> int:
    """A kind's place in the lead order (0 leads); a kind the catalogue does not know comes last."""
    return _LEAD_RANK.get(kind, len(LEAD_ORDER))


def severity_rank(severity: str) -> int:
    """Rank of a severity (0 is least urgent); an unknown one ranks as "normal"."""
    return SEVERITY_RANK.get(str(getattr(severity, "value", severity)), SEVERITY_RANK["normal"])


def _spec(kind: str) -> KindSpec | None:
    return _BY_NAME.get(str(getattr(kind, "value", kind)))
