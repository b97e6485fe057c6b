"""Realistic provider bodies (payloads/*.json) for the gateway's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PAYLOADS", "payload", "payload_bytes"]

PAYLOADS = Path(__file__).with_name("payloads")


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text("utf-8"))
    return loaded


def payload_bytes(name: str) -> bytes:
    return (PAYLOADS / f"{name}.json").read_bytes()
