"""How a service's agent takes its stream in batches: the knobs every stream service's settings carry."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["BatchSettings"]


class BatchSettings(BaseSettings):
    """`batch_size` and `batch_wait_s`, read with the env prefix of the service's settings that extend this."""

    batch_size: int = Field(default=500, ge=1, description="messages an agent takes from its stream per batch")
    batch_wait_s: float = Field(
        default=0.05, gt=0,
        description="longest a batch keeps taking messages that keep coming; it goes at once when they stop "
                    "(`faust_patches.take_ready`)",
    )
