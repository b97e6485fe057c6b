"""The preview CLI renders example data and fails when an SMS is too long."""

from __future__ import annotations

import pytest

from services.notifier.rendering import preview
from services.notifier.rendering.render import RenderedMessage
from services.notifier.rendering.segments import count_segments

pytestmark = pytest.mark.unit


def test_all_renders_every_kind_channel_and_locale(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--all"]) == 0
    out = capsys.readouterr().out
    assert "of 42 SMS fit in one segment; 0 exceed 2." in out
    assert out.count(" sms ") == 42


def test_single_preview(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--kind", "not_shipped", "--channel", "sms", "--locale", "de"]) == 0
    out = capsys.readouterr().out
    assert "Jürgen" in out and "segment(s)" in out
    assert preview.main(["--kind", "stockout", "--channel", "email", "--locale", "es", "--html"]) == 0
    assert "<!DOCTYPE html>" in capsys.readouterr().out


def test_exit_status_is_one_when_an_sms_needs_three_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "x" * 400

    def too_long(*_args: object, **_kwargs: object) -> RenderedMessage:
        return RenderedMessage(channel="sms", locale="en", text=text, segments=count_segments(text))

    monkeypatch.setattr(preview, "render", too_long)
    assert preview.main(["--kind", "stockout"]) == 1
    assert preview.main(["--all"]) == 1
