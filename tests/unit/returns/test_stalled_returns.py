"""A return label never scanned: one gentle reminder with the label link, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.returns.rules import ReturnSettings, incident_id
from tests.unit.returns.factories import (
    LABEL,
    T0,
    Desk,
    label_scanned,
    order_placed,
    received,
    rejected,
    requested,
)

pytestmark = pytest.mark.unit

H = timedelta(hours=1)
D = timedelta(days=1)
REQUESTED_AT = T0 + D
REMIND_AT = REQUESTED_AT + 14 * D


def _labelled() -> Desk:
    return Desk().feed(order_placed(), requested(REQUESTED_AT))


def test_no_scan_for_fourteen_days_is_one_reminder_with_the_label() -> None:
    desk = _labelled().run(REMIND_AT + 10 * D, every=timedelta(hours=6))
    [reminder] = desk.incidents
    assert reminder.kind == "return_stalled"
    assert reminder.facts.label_url == LABEL
    assert reminder.facts.product_name == "Trail boots"
    assert reminder.detected_at == REMIND_AT
    assert reminder.severity == "low"
    assert reminder.incident_id == incident_id("return_stalled", "o-1", "r-1", "label")


def test_not_a_moment_early() -> None:
    desk = _labelled().tick(REMIND_AT - timedelta(seconds=1))
    assert desk.incidents == []
    desk.tick(REMIND_AT)
    assert desk.kinds() == ["return_stalled"]


def test_a_scan_before_the_reminder_means_no_reminder() -> None:
    desk = _labelled().feed(label_scanned(REQUESTED_AT + 3 * D)).run(REMIND_AT + 5 * D)
    assert desk.incidents == []


def test_no_label_no_reminder() -> None:
    desk = Desk().feed(order_placed(), requested(REQUESTED_AT, label_url=None)).run(REMIND_AT + 5 * D)
    assert desk.incidents == []


def test_received_without_a_scan_means_no_reminder() -> None:
    desk = _labelled().feed(received(REQUESTED_AT + 5 * D)).tick(REQUESTED_AT + 5 * D + 2 * H).tick(REMIND_AT + D)
    assert "return_stalled" not in desk.kinds()


def test_a_scan_after_the_reminder_withdraws_it() -> None:
    desk = _labelled().tick(REMIND_AT).feed(label_scanned(REMIND_AT + 2 * H))
    assert [(r.kind, r.reason) for r in desk.resolutions] == [("return_stalled", "label_scanned")]
    desk.run(REMIND_AT + 30 * D, start=REMIND_AT + 3 * H, every=D)
    assert desk.kinds() == ["return_stalled"]


def test_rejected_before_the_reminder_means_no_reminder() -> None:
    desk = _labelled().feed(rejected(REQUESTED_AT + D)).tick(REMIND_AT + D)
    assert desk.kinds() == ["return_rejected"]


def test_reminder_time_is_a_store_setting() -> None:
    desk = Desk(ReturnSettings(overrides={"acme": {"label_scan_reminder_after": "P7D"}}))
    desk.feed(order_placed(), requested(REQUESTED_AT)).tick(REQUESTED_AT + 7 * D)
    assert [i.detected_at for i in desk.incidents] == [REQUESTED_AT + 7 * D]
