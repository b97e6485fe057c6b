"""The phrase modules layouts import "with context" are built once and bound to the render in progress; an import
whose importer gives a name the module reads another value, or a module whose body reads the context, is built
as Jinja builds it."""

from __future__ import annotations

from typing import Any

import jinja2.environment
import pytest
from jinja2 import DictLoader, StrictUndefined

from services.notifier.rendering import render
from services.notifier.rendering.environment import _Sandbox, environment, rendering
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


def _env(**templates: str) -> _Sandbox:
    return _Sandbox(loader=DictLoader({f"{name}.j2": source for name, source in templates.items()}),
                    undefined=StrictUndefined)


def _render(env: _Sandbox, name: str, **variables: Any) -> str:
    with rendering(variables):
        return env.get_template(f"{name}.j2").render(variables)


def test_messages_after_the_first_build_no_phrase_module(builds: list[str]) -> None:
    ana = example_context("not_shipped", "en", others=("eta_slipped",))
    render(ana, "sms")
    render(ana, "email")
    builds.clear()
    bo = ana.model_copy(update={"customer_first_name": "Bo"})
    sms, email = render(bo, "sms"), render(bo, "email")
    assert "Bo" in sms.text and "Bo" in email.text and "Ana" not in sms.text + email.text
    # Neither common, follow_up, the kind nor the other incident's kind (imported inside a macro) was built again;
    # only choices.j2's module, imported without context, is Jinja's own cached one.
    assert builds == []


def test_a_bound_module_reads_each_render_s_own_values() -> None:
    env = _env(phrases="{% macro hi() %}Hi {{ first_name }} {{ [1, 2, 3]|first }}{% endmacro %}",
               layout='{% import "phrases.j2" as c with context %}{{ c.hi() }}')
    assert [_render(env, "layout", first_name=name) for name in ("Ana", "Bo", "Ana")] == [
        "Hi Ana 1", "Hi Bo 1", "Hi Ana 1"]
    with rendering({"first_name": "Cy"}):
        assert env.get_template("layout.j2").render(first_name="Cy") == "Hi Cy 1"


def test_an_importer_giving_a_read_name_another_value_gets_a_module_of_its_own() -> None:
    env = _env(phrases="{% macro hi() %}Hi {{ first_name }}{% endmacro %}",
               kind='{% import "phrases.j2" as c with context %}{% macro hi() %}{{ c.hi() }}!{% endmacro %}',
               layout='{% import "kind.j2" as k with context %}{{ k.hi() }}',
               renamer='{% set first_name = "Zed" %}{% import "kind.j2" as k with context %}{{ k.hi() }}',
               looper='{% for first_name in ["Lu"] %}{% import "phrases.j2" as c with context %}{{ c.hi() }}'
                      '{% endfor %}')
    assert _render(env, "layout", first_name="Ana") == "Hi Ana!"
    # kind.j2 does not read first_name itself; the module its body imports does.
    assert _render(env, "renamer", first_name="Ana") == "Hi Zed!"
    assert _render(env, "looper", first_name="Ana") == "Hi Lu"
    assert _render(env, "layout", first_name="Bo") == "Hi Bo!"


def test_a_module_whose_body_reads_the_context_is_built_at_every_import() -> None:
    env = _env(phrases='{% set greeting = "Hi " ~ first_name %}{% macro hi() %}{{ greeting }}{% endmacro %}',
               layout='{% import "phrases.j2" as c with context %}{{ c.hi() }}')
    assert [_render(env, "layout", first_name=name) for name in ("Ana", "Bo")] == ["Hi Ana", "Hi Bo"]


def test_outside_a_render_a_module_is_built_from_the_importer(builds: list[str]) -> None:
    env = _env(phrases="{% macro hi() %}Hi {{ first_name }}{% endmacro %}",
               layout='{% import "phrases.j2" as c with context %}{{ c.hi() }}')
    layout = env.get_template("layout.j2")
    assert [layout.render(first_name=name) for name in ("Ana", "Bo")] == ["Hi Ana", "Hi Bo"]
    assert builds == ["phrases.j2", "phrases.j2"]


def test_the_sandbox_still_refuses_what_it_refused() -> None:
    env = environment()
    template = env.from_string("{{ name.__class__ }}|{{ items.append }}|{{ name.upper() }}")
    for _ in range(2):  # the second time from the remembered decision
        with pytest.raises(jinja2.exceptions.SecurityError):
            template.render(name="x", items=[])
    assert env.from_string("{{ name.upper() }}").render(name="x") == "X"


def test_a_template_sees_the_environment_s_globals_and_only_its_own_extra_ones() -> None:
    env = environment()
    assert env.from_string("{{ range(2)|list }}|{{ extra }}", globals={"extra": "x"}).render() == "[0, 1]|x"
    assert "extra" not in env.globals
    with pytest.raises(jinja2.exceptions.UndefinedError):
        env.from_string("{{ extra }}").render()
