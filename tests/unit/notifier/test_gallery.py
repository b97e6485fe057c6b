"""The committed message gallery matches the templates: a change of wording shows in its diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.rendering import preview
from services.notifier.rendering.examples import EXAMPLE_LOCALES, GALLERY_CUSTOMERS, INCIDENT_KINDS

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def rendered() -> str:
    return preview.gallery()


def test_the_committed_gallery_matches_the_templates(rendered: str) -> None:
    assert preview.GALLERY_PATH.is_file(), "templates/GALLERY.md is missing: run make gallery"
    committed = preview.GALLERY_PATH.read_text("utf-8")
    assert committed == rendered, "templates/GALLERY.md drifted from the templates: run make gallery"


def test_the_gallery_shows_every_kind_locale_channel_and_variant(rendered: str) -> None:
    text = rendered
    cases = len(EXAMPLE_LOCALES) * len(INCIDENT_KINDS)
    for kind in INCIDENT_KINDS:
        for locale in EXAMPLE_LOCALES:
            assert f"## {kind} ({locale})" in text
    for form in ("full", "short", "minimal"):
        assert text.count(f"SMS {form}: ") == cases * len(GALLERY_CUSTOMERS)
    assert text.count("\nEmail: ") == cases * len(GALLERY_CUSTOMERS)
    sent = text.count(" - sent\n") + text.count("SMS sent (")
    assert sent == cases * len(GALLERY_CUSTOMERS)  # exactly one SMS marked as the one that goes out


def test_gallery_flag_prints_and_writes(
    rendered: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(preview, "gallery", lambda: rendered)
    assert preview.main(["--gallery"]) == 0
    assert capsys.readouterr().out == rendered
    target = tmp_path / "GALLERY.md"
    monkeypatch.setattr(preview, "GALLERY_PATH", target)
    assert preview.main(["--gallery", "--write"]) == 0
    assert target.read_text("utf-8") == rendered
