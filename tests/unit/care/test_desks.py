"""The Zendesk desk comes with an optional extra (zenpy is GPLv3): without it, care says what to install."""

from __future__ import annotations

import sys

import pytest

from services.care.desks import ZendeskDesk

pytestmark = pytest.mark.unit


def test_without_the_zendesk_extra_the_desk_refuses_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zenpy", None)  # what an install without the extra looks like to `import`
    with pytest.raises(RuntimeError, match=r"forewarn\[zendesk\]"):
        ZendeskDesk(subdomain="acme", email="agent@acme.example", token="not-a-real-token")


def test_with_the_extra_the_desk_is_built() -> None:
    desk = ZendeskDesk(subdomain="acme", email="agent@acme.example", token="not-a-real-token",
                       base_url="http://127.0.0.1:9")
    assert desk.name == "zendesk"
