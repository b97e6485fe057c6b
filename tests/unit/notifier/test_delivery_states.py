"""The delivery state machine: its states are the stored strings, and only the written moves are allowed."""

from __future__ import annotations

import pytest

from services.notifier.delivery_states import (
    CALLBACK_RANK,
    TRANSITIONS,
    DeliveryState,
    IllegalTransition,
    allowed,
    check,
    sources_of,
)

pytestmark = pytest.mark.unit

S = DeliveryState

# Written out by hand: a change to the machine is a change to this list too.
LEGAL = {
    ("reserved", "reserved"), ("reserved", "sending"), ("reserved", "deferred"), ("reserved", "joined"),
    ("reserved", "suppressed"), ("reserved", "withdrawn"),
    ("deferred", "reserved"), ("deferred", "withdrawn"),
    ("joined", "reserved"),
    ("sending", "sending"), ("sending", "sent"), ("sending", "ambiguous"), ("sending", "failed"),
    ("ambiguous", "sent"), ("ambiguous", "failed"), ("ambiguous", "reserved"),
    ("sent", "delivered"), ("sent", "undelivered"), ("sent", "failed"), ("sent", "bounced"),
    ("undelivered", "delivered"), ("failed", "delivered"), ("bounced", "delivered"),
}
ILLEGAL = sorted((source.value, target.value) for source in S for target in S
                 if (source.value, target.value) not in LEGAL)


def test_the_values_are_the_strings_the_ledger_stores() -> None:
    assert [state.value for state in S] == [
        "reserved", "deferred", "joined", "sending", "ambiguous", "sent", "delivered", "undelivered", "failed",
        "bounced", "suppressed", "withdrawn",
    ]
    assert S("sent") is S.SENT and S.SENT == "sent"


def test_the_machine_allows_exactly_the_written_moves() -> None:
    assert {(source.value, target.value) for source, targets in TRANSITIONS.items() for target in targets} == LEGAL
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_an_allowed_move_passes(source: str, target: str) -> None:
    assert allowed(source, target)
    check("n1", source, target)
    assert S(source) in sources_of(target)


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_a_forbidden_move_raises(source: str, target: str) -> None:
    assert not allowed(source, target)
    with pytest.raises(IllegalTransition) as raised:
        check("n1", source, target)
    assert (raised.value.notification_id, raised.value.source, raised.value.target) == ("n1", source, target)
    assert S(source) not in sources_of(target)


def test_a_finished_message_never_moves_again() -> None:
    for state in (S.DELIVERED, S.SUPPRESSED, S.WITHDRAWN):
        assert TRANSITIONS[state] == frozenset()


def test_every_forward_status_callback_is_an_allowed_move() -> None:
    """`Ledger.record_status` applies a callback only forward and only along the machine: the two agree."""
    for source, low in CALLBACK_RANK.items():
        for target, high in CALLBACK_RANK.items():
            if high > low:
                assert allowed(source, target), (source, target)


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="queued"):
        allowed("queued", "sent")


def test_sources_among_the_expected_states() -> None:
    assert sources_of("sent", among=("sending", "reserved", "ambiguous")) == (S.SENDING, S.AMBIGUOUS)
