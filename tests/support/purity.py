"""Checks that a pure rule leaves the state it was given as it was."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

__all__ = ["fire_due", "unchanged"]

Result = TypeVar("Result")
State = TypeVar("State", bound=BaseModel)


class _Due(Protocol):
    due: datetime


def unchanged(rule: Callable[..., Result], state: BaseModel | None, *args: Any) -> Result:
    """`rule(state, *args)`, checking that `state` (its every part, as JSON) is what it was before."""
    before = state.model_dump(mode="json") if state is not None else None
    result = rule(state, *args)
    after = state.model_dump(mode="json") if state is not None else None
    assert after == before, f"{getattr(rule, '__name__', rule)} changed the state it was given"
    return result


def fire_due(
    pending: Callable[[State, Any], Sequence[_Due]],
    fire: Callable[..., Any],
    state: State,
    now: datetime,
    settings: Any,
) -> State | None:
    """Fire every deadline of `state` due by `now`, each on the same (unchanged) input; the last outcome's state."""
    out: State | None = state
    for deadline in pending(state, settings):
        if deadline.due <= now:
            out = unchanged(fire, state, deadline, now, settings).state
    return out
