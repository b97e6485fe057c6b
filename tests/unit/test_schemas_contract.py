"""The event contract: examples parse and round-trip, bad values raise ContractError without their input."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError, field_validator

import schemas
from schemas import (
    EVENT_TYPES,
    MAX_EVENT_BYTES,
    CloudEvent,
    ContractError,
    CustomerOptedOut,
    CustomerRef,
    IncidentDetectedData,
    Money,
    OrderLine,
    OrderPlaced,
    OrderPlacedData,
    ProviderSmsInbound,
    ProviderSmsInboundData,
    make_event,
    parse_event,
)

pytestmark = pytest.mark.unit

EXAMPLES = Path(schemas.__file__).parent / "examples"
VALID = sorted((EXAMPLES / "valid").glob("*.json"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.json"))
T0 = datetime(2026, 3, 2, 9, 14, 27, tzinfo=timezone(timedelta(hours=-8)))


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / "valid" / f"{name}.json").read_text("utf-8"))
    return loaded


def _resolve(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _order_data(**changes: Any) -> OrderPlacedData:
    fields: dict[str, Any] = {
        "order_id": "ord_1",
        "store_id": "acme",
        "customer": CustomerRef(id="cust_1", first_name="Maya", phone="+14155550123", timezone="America/Denver"),
        "lines": [
            OrderLine(sku="MUG-1", product_name="Mug", quantity=2, unit_price=Money(amount="9.50", currency="USD"))
        ],
        "total": Money(amount=Decimal("19.00"), currency="USD"),
        "shipping_method": "standard",
        "placed_at": T0,
        "promised_ship_by": T0 + timedelta(days=2),
        "promised_delivery_by": T0 + timedelta(days=6),
    }
    fields.update(changes)
    return OrderPlacedData(**fields)


def test_there_are_enough_examples() -> None:
    assert len(VALID) >= len(EVENT_TYPES)
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_example_parses_and_round_trips_byte_stable(path: Path) -> None:
    raw = path.read_bytes()
    event = parse_event(raw)
    assert event.type == path.stem.split("--")[0]
    assert type(event) is EVENT_TYPES[event.type]
    assert parse_event(raw, topic=schemas.topic_for_event_type(event.type)) == event
    wire = event.to_bytes()
    again = parse_event(wire)
    assert again == event
    assert again.to_bytes() == wire
    assert parse_event(wire.decode("utf-8")) == event
    assert parse_event(json.loads(raw)) == event
    assert event.key() == event.subject.encode("utf-8")


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_to_bytes_is_compact_utf8_json_with_every_input_field(path: Path) -> None:
    original = json.loads(path.read_bytes())
    wire = parse_event(path.read_bytes()).to_bytes()
    assert b"\n" not in wire and b'": ' not in wire
    decoded = json.loads(wire.decode("utf-8"))
    assert set(original) <= set(decoded)
    assert set(original["data"]) <= set(decoded["data"])


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_example_is_a_contract_error_naming_the_field_not_the_value(path: Path) -> None:
    case = json.loads(path.read_bytes())
    event, expect_field = case["event"], case["expect_field"]
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(event).encode("utf-8"))
    error = caught.value
    assert error.field == expect_field
    assert str(error).startswith(f"{expect_field}: ")
    bad_value = _resolve(event, expect_field)
    if isinstance(bad_value, str | int | float) and not isinstance(bad_value, bool) and len(str(bad_value)) >= 2:
        assert str(bad_value) not in str(error)
    assert error.errors and error.errors[0][0] == expect_field


def test_contract_error_lists_every_problem_and_never_the_inputs() -> None:
    event = _example("order.placed")
    event["data"]["customer"]["phone"] = "+1 (415) 555-0188"
    event["data"]["customer"]["email"] = "maya at example dot com"
    event["data"]["customer"]["timezone"] = "Middle/Earth"
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(event))
    text = str(caught.value)
    assert caught.value.field == "data.customer.email"
    assert [path for path, _, _ in caught.value.errors] == [
        "data.customer.email", "data.customer.phone", "data.customer.timezone"
    ]
    for secret in ("+1 (415) 555-0188", "maya at example dot com", "Middle/Earth"):
        assert secret not in text
        assert secret not in repr(caught.value.errors)
    assert "data.customer.phone: value is not a valid E.164 phone number" in text


def test_unknown_type_is_not_echoed() -> None:
    event = _example("order.placed") | {"type": "order.secret-value-here"}
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(event))
    assert caught.value.field == "type"
    assert "secret-value-here" not in str(caught.value)


class _Echoing(BaseModel):
    phone: str

    @field_validator("phone")
    @classmethod
    def _echo(cls, value: str) -> str:
        raise ValueError(f"cannot dial {value}")


def test_contract_error_redacts_input_a_message_would_echo() -> None:
    with pytest.raises(ValidationError) as caught:
        _Echoing(phone="+14155550177")
    error = ContractError.from_validation_error(caught.value)
    assert error.field == "phone"
    assert "+14155550177" not in str(error) and "+14155550177" not in repr(error.errors)
    assert "cannot dial" in str(error)


def test_contract_error_survives_pickling() -> None:
    error = ContractError("data.customer.phone", "value is not a valid E.164 phone number", [("a", "b", "c")])
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert (copy.field, copy.reason, copy.errors, str(copy)) == (error.field, error.reason, error.errors, str(error))
    assert isinstance(copy, ValueError)


def test_unknown_extra_fields_are_kept_and_round_trip() -> None:
    event = _example("order.placed")
    event["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event["data"]["gift_message"] = "Happy birthday!"
    event["data"]["customer"]["tags"] = ["vip", "wholesale"]
    event["data"]["lines"][0]["variant_id"] = 40812
    parsed = parse_event(json.dumps(event))
    assert parsed.model_extra == {"traceparent": event["traceparent"]}
    assert isinstance(parsed, OrderPlaced)
    assert parsed.data.model_extra == {"gift_message": "Happy birthday!"}
    wire = json.loads(parsed.to_bytes())
    assert wire["traceparent"] == event["traceparent"]
    assert wire["data"]["gift_message"] == "Happy birthday!"
    assert wire["data"]["customer"]["tags"] == ["vip", "wholesale"]
    assert wire["data"]["lines"][0]["variant_id"] == 40812


def test_events_that_differ_are_not_equal() -> None:
    event = parse_event(json.dumps(_example("order.placed")))
    changed = _example("order.placed")
    changed["data"]["lines"][0]["quantity"] = 3
    assert parse_event(json.dumps(changed)) != event
    extended = _example("order.placed") | {"comexampleflag": True}
    assert parse_event(json.dumps(extended)) != event


def test_events_are_frozen() -> None:
    event = parse_event(json.dumps(_example("order.placed")))
    with pytest.raises(ValueError, match="frozen"):
        event.subject = "other"  # type: ignore[misc]


def test_event_type_must_belong_to_the_topic() -> None:
    raw = json.dumps(_example("payment.declined"))
    assert parse_event(raw, topic="payments").type == "payment.declined"
    with pytest.raises(ContractError) as caught:
        parse_event(raw, topic="orders")
    assert caught.value.field == "type"
    with pytest.raises(ContractError):
        parse_event(raw, topic="no-such-topic")


def test_oversize_values_are_rejected_before_parsing() -> None:
    event = _example("order.fulfilled")
    compact = json.dumps(event).encode("utf-8")
    fits = compact[:-1] + b" " * (MAX_EVENT_BYTES - len(compact)) + b"}"
    assert len(fits) == MAX_EVENT_BYTES
    assert parse_event(fits).type == "order.fulfilled"
    with pytest.raises(ContractError) as caught:
        parse_event(fits[:-1] + b" }")
    assert caught.value.field is None and "larger" in caught.value.reason
    with pytest.raises(ContractError, match="larger"):
        parse_event(b"{" * (5 * MAX_EVENT_BYTES))
    with pytest.raises(ContractError, match="larger"):
        parse_event("x" * (MAX_EVENT_BYTES + 1))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"type": "order.placed", "subject": "\xe9"}', "UTF-8"),
        ("\ud800", "UTF-8"),
        (b"", "JSON"),
        (b"{", "JSON"),
        (b"{'type': 'order.placed'}", "JSON"),
        (b"[" * 10_000, "JSON"),
        (b"null", "object"),
        (b"[]", "object"),
        (b'"order.placed"', "object"),
        (b"42", "object"),
    ],
)
def test_garbage_is_a_contract_error(raw: bytes | str, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_event(raw)
    assert caught.value.field is None
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('"data": {"order_id": "ord_1002", "fulfilled_at": "2026-05-12T10:22:45+02:00", "n": NaN}', "data.n"),
        ('"x": -Infinity', "x"),
        ('"x": [1, {"y": 1e309}]', "x"),
        ('"x": {"y": -' + "9" * 400 + '.5}', "x"),
    ],
)
def test_numbers_json_cannot_carry_are_rejected(extra: str, field: str) -> None:
    event = _example("order.fulfilled")
    text = json.dumps(event)[:-1] + ", " + extra + "}"
    with pytest.raises(ContractError) as caught:
        parse_event(text)
    assert caught.value.field == field
    assert "JSON value" in caught.value.reason


def test_extra_values_must_be_json_values() -> None:
    event = _example("order.fulfilled") | {"comexamplewhen": datetime(2026, 1, 1, tzinfo=UTC)}
    with pytest.raises(ContractError) as caught:
        parse_event(event)
    assert caught.value.field == "comexamplewhen"
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    assert parse_event(_example("order.fulfilled") | {"comexampledeep": deep}).model_extra == {"comexampledeep": deep}


def test_a_value_that_is_neither_bytes_str_nor_mapping_is_a_contract_error() -> None:
    with pytest.raises(ContractError):
        parse_event(12345)  # type: ignore[arg-type]


def test_specversion_is_required_on_the_wire_but_defaulted_in_code() -> None:
    event = _example("order.fulfilled")
    del event["specversion"]
    with pytest.raises(ContractError) as caught:
        parse_event(json.dumps(event))
    assert caught.value.field == "specversion"
    built = make_event("order.fulfilled", event["data"], source="store/acme", subject="ord_1002", time=T0)
    assert built.specversion == "1.0"


def test_make_event_builds_the_registered_class() -> None:
    event = make_event(
        "order.placed", _order_data(), source="store/acme", subject="ord_1", time=T0, traceparent="00-abc-01"
    )
    assert isinstance(event, OrderPlaced)
    assert len(event.id) == 32 and int(event.id, 16) >= 0
    assert event.model_extra == {"traceparent": "00-abc-01"}
    assert parse_event(event.to_bytes(), topic="orders") == event
    other = make_event("order.placed", _order_data(), source="store/acme", subject="ord_1", time=T0)
    assert other.id != event.id
    fixed = make_event("order.placed", _order_data(), source="store/acme", subject="ord_1", time=T0, id="evt-1")
    assert fixed.id == "evt-1"


def test_make_event_accepts_a_mapping_and_reports_contract_errors() -> None:
    data = _order_data().model_dump(mode="json")
    assert make_event("order.placed", data, source="store/acme", subject="ord_1", time=T0).type == "order.placed"
    data["customer"]["phone"] = "0041 79 123 45 67"
    with pytest.raises(ContractError) as caught:
        make_event("order.placed", data, source="store/acme", subject="ord_1", time=T0)
    assert caught.value.field == "data.customer.phone"
    assert "0041 79 123 45 67" not in str(caught.value)
    with pytest.raises(ContractError) as unknown:
        make_event("order.lost", data, source="store/acme", subject="ord_1", time=T0)
    assert unknown.value.field == "type"


def test_make_event_rejects_naive_times_wrong_data_and_a_subject_that_is_not_the_key() -> None:
    with pytest.raises(ContractError) as naive:
        make_event("order.placed", _order_data(), source="store/acme", subject="ord_1", time=datetime(2026, 3, 2))
    assert naive.value.field == "time"
    with pytest.raises(ContractError) as wrong_data:
        make_event("incident.detected", _order_data(), source="forewarn/test", subject="cust_1", time=T0)
    assert wrong_data.value.field == "data"
    with pytest.raises(ContractError) as wrong_key:
        make_event("order.placed", _order_data(), source="store/acme", subject="cust_1", time=T0)
    assert wrong_key.value.field == "subject"


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValueError, match="timezone"):
        OrderPlaced(id="e1", source="store/acme", time=datetime(2026, 3, 2), subject="ord_1", data=_order_data())
    with pytest.raises(ValueError, match=r"E\.164"):
        CustomerRef(id="c", first_name="Maya", phone="555-0123")
    assert CustomerRef(id="c", first_name="Maya").locale == "en"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5"])
def test_real_time_zones_are_accepted(zone: str) -> None:
    assert CustomerRef(id="c", first_name="A", timezone=zone).timezone == zone


@pytest.mark.parametrize("zone", ["Berlin", "America", "../../etc/passwd", "/etc/localtime", "", "Europe/Berlin\x00"])
def test_bad_time_zones_are_rejected(zone: str) -> None:
    with pytest.raises(ValueError, match="IANA"):
        CustomerRef(id="c", first_name="A", timezone=zone)


@pytest.mark.parametrize("phone", ["+14155550123", "+4915123456789", "+861012345678"])
def test_e164_phones_are_accepted(phone: str) -> None:
    assert CustomerRef(id="c", first_name="A", phone=phone).phone == phone


@pytest.mark.parametrize("phone", ["14155550123", "+04155550123", "+141555", "+1 415 555 0123", "+1234567890123456"])
def test_non_e164_phones_are_rejected(phone: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        CustomerRef(id="c", first_name="A", phone=phone)


def test_money_keeps_decimal_precision_and_serializes_as_a_string() -> None:
    event = parse_event(json.dumps(_example("order.placed")).replace('"108.45"', "108.45"))
    assert isinstance(event, OrderPlaced)
    assert event.data.total.amount == Decimal("108.45")
    assert json.loads(event.to_bytes())["data"]["total"] == {"amount": "108.45", "currency": "USD"}


def test_incident_escalation_needs_a_tier() -> None:
    example = _example("incident.detected")["data"]
    assert IncidentDetectedData(**(example | {"escalate": True, "escalation_tier": 3})).escalation_tier == 3
    with pytest.raises(ValueError, match="escalation_tier"):
        IncidentDetectedData(**(example | {"escalate": True}))


def test_inbound_sms_sender_is_from_on_the_wire_and_from_in_python() -> None:
    data = ProviderSmsInboundData(message_sid="SM1", from_="+14155550123", to="12345", body="STOP", received_at=T0)
    event = make_event("provider.sms_inbound", data, source="provider/twilio", subject="SM1", time=T0)
    assert isinstance(event, ProviderSmsInbound)
    wire = json.loads(event.to_bytes())
    assert wire["data"]["from"] == "+14155550123" and "from_" not in wire["data"]
    again = parse_event(event.to_bytes())
    assert isinstance(again, ProviderSmsInbound) and again.data.from_ == "+14155550123"


def test_opt_out_without_customer_id_is_keyed_by_address_and_needs_one() -> None:
    base = {"channel": "sms", "source": "sms_keyword", "at": T0}
    event = make_event(
        "customer.opted_out", base | {"phone": "+14155550123"}, source="forewarn/notifier",
        subject="+14155550123", time=T0,
    )
    assert isinstance(event, CustomerOptedOut) and event.data.customer_id is None
    with pytest.raises(ContractError) as caught:
        make_event("customer.opted_out", base | {"email": "a@example.com"}, source="s", subject="x", time=T0)
    assert caught.value.field == "data"


def test_utc_times_round_trip_to_the_same_instant() -> None:
    event = make_event("order.placed", _order_data(), source="store/acme", subject="ord_1", time=T0.astimezone(UTC))
    again = parse_event(event.to_bytes())
    assert again.time == T0 and again.time.utcoffset() == timedelta(0)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_parse_or_raise_contract_error(raw: bytes) -> None:
    try:
        event = parse_event(raw)
    except ContractError as error:
        assert str(error)
    else:
        assert isinstance(event, CloudEvent)


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from([p.stem for p in VALID]),
    path_seed=st.integers(min_value=0, max_value=10_000),
    replacement=_JSON,
    drop=st.booleans(),
)
def test_mutated_examples_parse_or_raise_contract_error(
    name: str, path_seed: int, replacement: Any, drop: bool
) -> None:
    event = _example(name)
    containers: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in items:
            containers.append((node, key))
            walk(child)

    walk(event)
    node, key = containers[path_seed % len(containers)]
    if drop and isinstance(node, dict):
        del node[key]
    else:
        node[key] = replacement
    try:
        parsed = parse_event(json.dumps(event))
    except ContractError as error:
        assert error.reason
    else:
        assert parse_event(parsed.to_bytes()) == parsed
