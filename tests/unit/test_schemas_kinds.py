"""The catalogue of incident kinds (schemas/kinds.py) covers exactly the kinds the contract publishes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

import schemas
from schemas.choices import CHOICES_BY_KIND, choices_for
from schemas.kinds import CATALOGUE, LEAD_ORDER, SEVERITIES, escalation_class, lead_rank, severity_for, severity_rank
from schemas.values import IncidentKind, Severity

pytestmark = pytest.mark.unit

PACKAGE = Path(schemas.__file__).parent


def _enums(node: Any, name: str) -> list[set[str]]:
    """Every `enum` of a property called `name`, anywhere in a JSON Schema."""
    found: list[set[str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict) and isinstance(value.get(name), dict):
                prop = value[name]
                found += [set(option["enum"]) for option in [prop, *prop.get("anyOf", [])] if "enum" in option]
            found += _enums(value, name)
    elif isinstance(node, list):
        for item in node:
            found += _enums(item, name)
    return found


def _published_schemas() -> dict[str, Any]:
    """The JSON Schema of every message the AsyncAPI document lists, by file name (followed from its payload)."""
    asyncapi = yaml.safe_load((PACKAGE / "asyncapi.yaml").read_text("utf-8"))
    out: dict[str, Any] = {}
    for message in asyncapi["components"]["messages"].values():
        ref = message["payload"]["$ref"]
        out[ref] = json.loads((PACKAGE / ref).read_text("utf-8"))
    return out


def test_every_kind_the_contract_publishes_is_in_the_catalogue_and_no_other() -> None:
    published = _published_schemas()
    kinds = {ref: enums for ref, schema in published.items() if (enums := _enums(schema, "kind"))}
    assert {"json/incident.detected.json", "json/incident.resolved.json", "json/escalation.opened.json"} <= set(kinds)
    for ref, enums in kinds.items():
        for enum in enums:
            assert enum == set(CATALOGUE), f"{ref}: kinds outside the catalogue {enum - set(CATALOGUE)}, " \
                                           f"catalogue kinds missing {set(CATALOGUE) - enum}"
    assert set(get_args(IncidentKind)) == set(CATALOGUE)


def test_every_severity_the_contract_publishes_is_ranked() -> None:
    severities = [enum for schema in _published_schemas().values() for enum in _enums(schema, "severity")]
    assert severities, "incident.detected carries a severity"
    for enum in severities:
        assert enum == set(SEVERITIES)
    assert set(get_args(Severity)) == set(SEVERITIES)
    assert [severity_rank(s) for s in ("low", "normal", "high", "critical")] == [0, 1, 2, 3]
    assert severity_rank("unheard-of") == severity_rank("normal")


def test_the_lead_order_names_every_kind_once() -> None:
    assert sorted(LEAD_ORDER) == sorted(get_args(IncidentKind))
    assert [lead_rank(kind) for kind in LEAD_ORDER] == list(range(len(LEAD_ORDER)))
    assert lead_rank("unheard-of") == len(LEAD_ORDER)
    assert lead_rank("false_decline") < lead_rank("not_shipped") < lead_rank("return_received")


def test_the_catalogue_keeps_each_kinds_choices_in_their_published_order() -> None:
    # A reply number is a position in these lists: they may grow at the end, never change order.
    published: dict[IncidentKind, tuple[str, ...]] = {
        "stockout": ("wait", "refund", "substitute"),
        "backordered": ("wait", "refund", "substitute"),
        "not_shipped": ("wait", "cancel"),
        "eta_slipped": ("wait", "cancel"),
        "not_delivered": ("wait", "reship", "refund"),
        "delivery_exception": ("reship", "refund"),
        "false_decline": ("retry_payment", "cancel"),
    }
    assert set(CHOICES_BY_KIND) == set(published)
    for kind, choices in published.items():
        assert CHOICES_BY_KIND[kind][: len(choices)] == choices
    assert choices_for("stockout") == ("wait", "refund", "substitute")
    assert choices_for("delivery_exception", "weather") == ()
    assert choices_for("delivery_exception", "lost") == ("reship", "refund")
    assert choices_for("refund_overdue") == ()


def test_a_lost_or_damaged_parcel_is_critical_and_complex() -> None:
    assert severity_for("delivery_exception") == "high"
    assert severity_for("delivery_exception", "damaged") == "critical"
    assert escalation_class("delivery_exception", "weather") == "simple"
    assert escalation_class("delivery_exception", "lost") == "complex"
    assert escalation_class("refund_overdue") == "complex"
    assert escalation_class("return_received") == "journey"
    assert severity_for("return_received") == "low"
