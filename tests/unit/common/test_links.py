"""Signed links: tokens verify only with the secret, for their own purpose, before they expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.choices import CHOICES
from services.common.links import LinkSigner
from services.common.settings import DEV_LINK_SECRET, CommonSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
NID = "ntf-0123456789abcdef0123456789ab"
SIGNER = LinkSigner("a-real-secret-for-tests")


def test_an_unsubscribe_token_names_its_notification() -> None:
    token = SIGNER.unsubscribe_token(NID)
    assert token.startswith(NID + ".")
    assert SIGNER.verify_unsubscribe(token) == NID


def test_an_unkeyed_or_forged_unsubscribe_token_is_refused() -> None:
    token = SIGNER.unsubscribe_token(NID)
    assert SIGNER.verify_unsubscribe(NID) is None  # the old unkeyed link
    assert LinkSigner("another-secret").verify_unsubscribe(token) is None
    other = "ntf-ffffffffffffffffffffffffffff"
    assert SIGNER.verify_unsubscribe(other + token[len(NID):]) is None  # a MAC moved to another id
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert SIGNER.verify_unsubscribe(flipped) is None


def test_a_choice_token_verifies_until_it_expires() -> None:
    expires = NOW + timedelta(days=7)
    token = SIGNER.choice_token(NID, "refund", expires)
    link = SIGNER.verify_choice(token, now=NOW)
    assert link is not None and link.notification_id == NID and link.choice == "refund"
    assert link.expires == expires
    assert SIGNER.verify_choice(token, now=expires) is None
    assert SIGNER.verify_choice(token, now=expires + timedelta(seconds=1)) is None


def test_a_choice_token_cannot_be_changed() -> None:
    token = SIGNER.choice_token(NID, "wait", NOW + timedelta(days=1))
    nid, choice, expires, mac = token.rsplit(".", 3)
    assert SIGNER.verify_choice(f"{nid}.refund.{expires}.{mac}", now=NOW) is None
    assert SIGNER.verify_choice(f"{nid}.{choice}.{int(expires) + 86400}.{mac}", now=NOW) is None
    assert SIGNER.verify_choice(f"{nid}.cancel_refund.{expires}.{mac}", now=NOW) is None


def test_purposes_do_not_mix() -> None:
    unsubscribe = SIGNER.unsubscribe_token(NID)
    choice = SIGNER.choice_token(NID, "wait", NOW + timedelta(days=1))
    assert SIGNER.verify_choice(unsubscribe, now=NOW) is None
    assert SIGNER.verify_unsubscribe(choice) is None


@given(st.text(max_size=200))
def test_any_text_is_refused_or_verified_never_raises(token: str) -> None:
    assert SIGNER.verify_unsubscribe(token) is None
    assert SIGNER.verify_choice(token, now=NOW) is None
    assert SIGNER.verify_feedback(token, now=NOW) is None


def test_a_feedback_token_verifies_until_it_expires() -> None:
    expires = NOW + timedelta(days=7)
    for score in range(1, 6):
        link = SIGNER.verify_feedback(SIGNER.feedback_token(NID, score, expires), now=NOW)
        assert link is not None and (link.notification_id, link.score, link.expires) == (NID, score, expires)
    token = SIGNER.feedback_token(NID, 4, expires)
    assert SIGNER.verify_feedback(token, now=expires) is None
    assert LinkSigner("another-secret").verify_feedback(token, now=NOW) is None
    with pytest.raises(ValueError):
        SIGNER.feedback_token(NID, 6, expires)


def test_a_feedback_score_cannot_be_changed() -> None:
    token = SIGNER.feedback_token(NID, 1, NOW + timedelta(days=1))
    nid, _, expires, mac = token.rsplit(".", 3)
    for score in ("2", "5", "0", "6", "01"):
        assert SIGNER.verify_feedback(f"{nid}.{score}.{expires}.{mac}", now=NOW) is None
    assert SIGNER.verify_feedback(f"{nid}.1.{int(expires) + 86400}.{mac}", now=NOW) is None


def test_feedback_tokens_serve_no_other_purpose() -> None:
    expires = NOW + timedelta(days=1)
    feedback = SIGNER.feedback_token(NID, 3, expires)
    nid, _, seconds, mac = feedback.rsplit(".", 3)
    assert SIGNER.verify_choice(feedback, now=NOW) is None
    assert SIGNER.verify_choice(f"{nid}.wait.{seconds}.{mac}", now=NOW) is None
    assert SIGNER.verify_unsubscribe(feedback) is None
    choice = SIGNER.choice_token(NID, "wait", expires)
    assert SIGNER.verify_feedback(choice, now=NOW) is None
    assert SIGNER.verify_feedback(choice.replace(".wait.", ".3."), now=NOW) is None
    assert SIGNER.verify_feedback(SIGNER.unsubscribe_token(NID), now=NOW) is None


@given(st.sampled_from(CHOICES), st.integers(min_value=1, max_value=10**6))
def test_every_choice_round_trips(choice: str, seconds: int) -> None:
    token = SIGNER.choice_token(NID, choice, NOW + timedelta(seconds=seconds))  # type: ignore[arg-type]
    link = SIGNER.verify_choice(token, now=NOW)
    assert link is not None and link.choice == choice


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_STORE", "rocksdb://")
    monkeypatch.setenv("FOREWARN_ENV", "production")
    with pytest.raises(ValueError, match="FOREWARN_LINK_SECRET"):
        CommonSettings()
    monkeypatch.setenv("FOREWARN_LINK_SECRET", "changeme")
    with pytest.raises(ValueError, match="FOREWARN_LINK_SECRET"):
        CommonSettings()
    monkeypatch.setenv("FOREWARN_LINK_SECRET", "a-long-random-production-secret")
    assert CommonSettings().link_secret.get_secret_value() != DEV_LINK_SECRET
