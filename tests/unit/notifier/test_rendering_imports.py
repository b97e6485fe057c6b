"""The phrase modules an SMS's forms import "with context" are built once per message, never across messages."""

from __future__ import annotations

from typing import Any

import jinja2.environment
import pytest

from services.notifier.rendering import render
from services.notifier.rendering.environment import environment, one_message
from services.notifier.rendering.examples import example_context

pytestmark = pytest.mark.unit


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every template module built from now on."""
    built: list[str] = []

    class Counted(jinja2.environment.TemplateModule):
        def __init__(self, template: Any, context: Any, *args: Any) -> None:
            built.append(str(template.name))
            super().__init__(template, context, *args)

    monkeypatch.setattr(jinja2.environment, "TemplateModule", Counted)
    return built


def test_the_forms_of_one_sms_share_their_imports(builds: list[str]) -> None:
    ctx = example_context("not_shipped", "en")
    render(ctx, "sms")  # imports without context (choices.j2) are built once and cached by Jinja itself
    builds.clear()
    message = render(ctx, "sms")
    assert message.form != "full"  # the full form was rendered too, and did not fit one segment
    # The layout's common, follow_up and kind module, and the kind's own common: once each, not once per form.
    assert sorted(builds) == ["en/common.j2", "en/common.j2", "en/follow_up.j2", "en/kinds/not_shipped.j2"]


def test_a_module_is_never_shared_between_different_values() -> None:
    ana = example_context("not_shipped", "en")
    bo = ana.model_copy(update={"customer_first_name": "Bo"})
    alone = (render(ana, "sms").text, render(bo, "sms").text)
    assert "Bo" in alone[1] and "Ana" in alone[0]
    with one_message():
        together = (render(ana, "sms").text, render(bo, "sms").text)
    assert together == alone


def test_the_sandbox_still_refuses_what_it_refused() -> None:
    env = environment()
    template = env.from_string("{{ name.__class__ }}|{{ items.append }}|{{ name.upper() }}")
    for _ in range(2):  # the second time from the remembered decision
        with pytest.raises(jinja2.exceptions.SecurityError):
            template.render(name="x", items=[])
    assert env.from_string("{{ name.upper() }}").render(name="x") == "X"
