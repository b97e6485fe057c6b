"""A rule's working copy of a state: what it may change without touching the state it was given."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

__all__ = ["draft"]

M = TypeVar("M", bound=BaseModel)


def draft(state: M) -> M:
    """A shallow copy whose list, dict and set fields are new containers, their items shared.

    Rules keep the items of a state's collections immutable and replace one instead of changing it,
    so no step needs a deep copy; and every collection field is copied, so one added later cannot be
    forgotten here."""
    fields = type(state).model_fields
    return state.model_copy(update={
        name: value.copy() for name in fields if isinstance(value := getattr(state, name), (list, dict, set))})
