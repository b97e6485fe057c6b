"""The phrase modules an SMS's forms import "with context" are built once per message, never across messages."""

from __future__ import annotations

from typing import Any

import jinja2.environment
import pytest
from jinja2 import DictLoader, StrictUndefined

from services.notifier.rendering import render
from services.notifier.rendering.environment import _Sandbox, environment, one_message
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
    # The layout's common, follow_up and kind module, once each, not once per form; the kind's own import of
    # common (made with the layout's `c` in its context, a name common.j2 never reads) is the layout's.
    assert sorted(builds) == ["en/common.j2", "en/follow_up.j2", "en/kinds/not_shipped.j2"]


def test_a_module_is_never_shared_between_different_values() -> None:
    ana = example_context("not_shipped", "en")
    bo = ana.model_copy(update={"customer_first_name": "Bo"})
    alone = (render(ana, "sms").text, render(bo, "sms").text)
    assert "Bo" in alone[1] and "Ana" in alone[0]
    with one_message():
        together = (render(ana, "sms").text, render(bo, "sms").text)
    assert together == alone


def test_an_import_is_not_shared_with_a_template_that_reads_the_importers_alias() -> None:
    env = _Sandbox(loader=DictLoader({
        "phrases.j2": "{% macro hi() %}Hi {{ first_name }}{% endmacro %}",
        "reader.j2": "{% macro who() %}{{ c.hi() }}/{{ first_name }}{% endmacro %}",
    }), undefined=StrictUndefined)
    phrases, reader = env.get_template("phrases.j2"), env.get_template("reader.j2")
    with one_message():
        c = phrases.make_module({"first_name": "Ana"}, True)
        assert phrases.make_module({"first_name": "Ana", "c": c}, True) is c  # phrases.j2 never reads `c`
        # The same values and the importer's `c`, which reader.j2 reads: a module of its own, seeing `c`.
        assert str(reader.make_module({"first_name": "Ana", "c": c}, True).who()) == "Hi Ana/Ana"
        assert phrases.make_module({"first_name": "Bo", "c": c}, True) is not c


def test_the_sandbox_still_refuses_what_it_refused() -> None:
    env = environment()
    template = env.from_string("{{ name.__class__ }}|{{ items.append }}|{{ name.upper() }}")
    for _ in range(2):  # the second time from the remembered decision
        with pytest.raises(jinja2.exceptions.SecurityError):
            template.render(name="x", items=[])
    assert env.from_string("{{ name.upper() }}").render(name="x") == "X"
