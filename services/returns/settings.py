"""The returns service's settings from the environment (prefix `FOREWARN_RETURNS_`): the rule thresholds,
turned into ReturnSettings by `rules()`, and batching (`FOREWARN_RETURNS_BATCH_SIZE`, `_BATCH_WAIT_S`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field
from pydantic_settings import SettingsConfigDict

from services.common.batching import BatchSettings
from services.returns.rules import ReturnSettings

__all__ = ["ReturnsEnv"]


def _seconds(value: Any) -> Any:
    """A plain number in the environment is seconds ("30" -> 30 s); anything else is left to pydantic."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds)]


def _duration(name: str) -> Any:
    """A duration knob: `FOREWARN_RETURNS_<NAME>` (seconds or ISO 8601) or `FOREWARN_RETURNS_<NAME>_S` (seconds)."""
    prefix = "FOREWARN_RETURNS_" + name.upper()
    return Field(default=None, validation_alias=AliasChoices(prefix, prefix + "_S"))


class ReturnsEnv(BatchSettings):
    """Unset knobs keep ReturnSettings' defaults; `FOREWARN_RETURNS_OVERRIDES` is JSON keyed by store id.

    `batch_size` and `batch_wait_s` are how the agent takes its stream (as order_watcher's)."""

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_RETURNS_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    refund_sla: Duration | None = _duration("refund_sla")
    refund_escalate_after: Duration | None = _duration("refund_escalate_after")
    return_window: Duration | None = _duration("return_window")
    label_scan_reminder_after: Duration | None = _duration("label_scan_reminder_after")
    journey_return_received: bool | None = None
    journey_return_rejected: bool | None = None
    journey_refund_issued: bool | None = None
    journey_window_exceeded: bool | None = None
    overrides: dict[str, dict[str, Any]] | None = None

    def rules(self) -> ReturnSettings:
        """The rule settings: defaults, then whatever the environment set (validated as one)."""
        set_here = self.model_dump(include=set(ReturnSettings.model_fields), exclude_none=True)
        return ReturnSettings.model_validate(set_here)
