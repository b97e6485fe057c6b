"""Stand-ins for what a Faust agent hands its code: an event with its message, and a dead-letter sink that records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "Message", "RecordingSink"]


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Event:
    message: Message
    value: bytes | None = field(init=False)

    def __post_init__(self) -> None:
        self.value = self.message.value


class RecordingSink:
    """Takes the place of a Guard's dead-letter sink: keeps what would have been sent."""

    def __init__(self) -> None:
        self.dead: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> None:
        self.dead.append(kwargs)
