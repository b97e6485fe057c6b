"""Staleness: an incident resolved before its message went out is withdrawn.

No clock is compared here: whether an incident is resolved is a fact recorded when its
withdrawal arrives, whatever its event time."""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = ["is_stale", "withdraw_resolved"]


def is_stale(incident_id: str, resolved_ids: Collection[str]) -> bool:
    """True when the incident was resolved before sending (reason "resolved_before_send")."""
    return incident_id in resolved_ids


def withdraw_resolved(
    incident_ids: Iterable[str], resolved_ids: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a pending message's incidents into (still relevant, withdrawn)."""
    ids = tuple(incident_ids)
    return (
        tuple(i for i in ids if i not in resolved_ids),
        tuple(i for i in ids if i in resolved_ids),
    )
