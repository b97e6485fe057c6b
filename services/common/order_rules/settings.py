"""The settings every per-order rule set shares: dedupe and holding bounds, and per-store overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

__all__ = ["StoreSettings"]


class StoreSettings(BaseModel):
    """A rule set's knobs; a service's settings extend this with its own thresholds.

    `overrides` maps a store id to a partial set of the fields, e.g. `{"acme": {"orphan_ttl": "P3D"}}`;
    `for_store(store_id)` returns the merged settings, validated as one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seen_ids_limit: int = Field(
        default=64, ge=1, le=1024, description="Event ids remembered per order to drop duplicates."
    )
    early_events_limit: int = Field(
        default=32, ge=1, le=1024, description="Events held for an order not seen yet; the oldest go first."
    )
    orphan_ttl: timedelta = Field(
        default=timedelta(days=7),
        description="How long events for an order that never arrives are held before they are dropped.",
    )
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-store field overrides, keyed by store id."
    )

    _per_store: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _build_overrides(self) -> Self:
        base = self.model_dump(exclude={"overrides"})
        for store_id, fields in self.overrides.items():
            if "overrides" in fields:
                raise ValueError(f"overrides for store {store_id!r} cannot nest overrides")
            self._per_store[store_id] = type(self).model_validate({**base, **fields})
        return self

    def for_store(self, store_id: str | None) -> Self:
        """The settings in force for one store: this object when it has no overrides.

        Asked several times per event: a store without overrides costs a dict lookup on a field (a private
        attribute is read through pydantic's `__getattr__`, about 2 us)."""
        if store_id is None or store_id not in self.overrides:
            return self
        found: Self = self._per_store[store_id]
        return found
