"""Deterministic ids: pinned values, because a changed formula would break replays (new ids, new messages)."""

from __future__ import annotations

import pytest

from services.common.ids import event_digest, stable_id

pytestmark = pytest.mark.unit


def test_stable_id_is_pinned() -> None:
    assert stable_id("inc", "not_shipped", "ord-1", "2026-11-22T10:00:00+00:00") == PINNED_INCIDENT
    assert event_digest("evt-1") == PINNED_DIGEST


def test_parts_are_separated_not_concatenated() -> None:
    assert stable_id("inc", "ab", "c") != stable_id("inc", "a", "bc")
    assert stable_id("esc", "x").startswith("esc-") and len(stable_id("esc", "x")) == 4 + 24


PINNED_INCIDENT = "inc-3a70636a07f80aef5118850b"  # the value before ids moved to services.common
PINNED_DIGEST = "7b409f932d2c"
