"""The private faust-streaming patches: installed only on the version they were tested against."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from services.common import faust_patches
from services.common.faust_patches import TESTED_VERSION, UnsupportedFaust, check_version
from services.common.settings import CommonSettings
from services.common.streams import create_app

pytestmark = pytest.mark.unit

CONSTRAINTS = Path(__file__).resolve().parents[3] / "constraints.txt"


def test_the_tested_version_is_the_one_pinned_in_constraints() -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", CONSTRAINTS.read_text(), flags=re.MULTILINE))
    assert pins["faust-streaming"] == TESTED_VERSION
    assert importlib.metadata.version("faust-streaming") == TESTED_VERSION


def test_the_tested_version_is_accepted() -> None:
    check_version(TESTED_VERSION)
    check_version()  # the installed one


@pytest.mark.parametrize("version", ["0.15.4", "0.16.0", "0.11.3", "1.0.0"])
def test_an_unknown_version_is_refused_with_a_clear_error(version: str) -> None:
    with pytest.raises(UnsupportedFaust, match=rf"faust-streaming {re.escape(version)} is installed.*constraints\.txt"):
        check_version(version)


def test_an_app_is_not_built_on_an_unknown_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust_patches.importlib.metadata, "version", lambda name: "0.99.0")
    with pytest.raises(UnsupportedFaust, match=re.escape("faust-streaming 0.99.0")):
        create_app("patches-test", CommonSettings(topic_prefix="unit-"))
