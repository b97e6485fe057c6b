"""Deterministic ids: the same causes always give the same id, so a replay emits the same events."""

from __future__ import annotations

import hashlib

__all__ = ["event_digest", "stable_id"]


def stable_id(prefix: str, *parts: str, length: int = 24) -> str:
    """`<prefix>-` + the first `length` hex of sha256 over the parts joined by the unit separator."""
    return f"{prefix}-{hashlib.sha256(chr(0x1F).join(parts).encode()).hexdigest()[:length]}"


def event_digest(event_id: str) -> str:
    """A short stable fingerprint of a CloudEvent id, for bounded dedupe memories."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:12]
