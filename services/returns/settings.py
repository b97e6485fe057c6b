"""The returns service's settings from the environment (prefix `FOREWARN_RETURNS_`): the rule thresholds,
turned into ReturnSettings by `rules()`, and batching (`FOREWARN_RETURNS_BATCH_SIZE`, `_BATCH_WAIT_S`).

Durations are seconds or ISO 8601 (`86400` or `PT24H`); each also answers to its name with `_S`."""

from __future__ import annotations

from typing import Any

from pydantic_settings import SettingsConfigDict

from services.common.batching import BatchSettings
from services.common.settings import Duration, duration_knob
from services.returns.rules import ReturnSettings

__all__ = ["ReturnsSettings"]

_PREFIX = "FOREWARN_RETURNS_"


class ReturnsSettings(BatchSettings):
    """Unset knobs keep ReturnSettings' defaults; `FOREWARN_RETURNS_OVERRIDES` is JSON keyed by store id.

    `batch_size` and `batch_wait_s` are how the agent takes its stream (as order_watcher's)."""

    model_config = SettingsConfigDict(env_prefix=_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True)

    refund_sla: Duration | None = duration_knob(_PREFIX, "refund_sla")
    refund_escalate_after: Duration | None = duration_knob(_PREFIX, "refund_escalate_after")
    return_window: Duration | None = duration_knob(_PREFIX, "return_window")
    label_scan_reminder_after: Duration | None = duration_knob(_PREFIX, "label_scan_reminder_after")
    journey_return_received: bool | None = None
    journey_return_rejected: bool | None = None
    journey_refund_issued: bool | None = None
    journey_window_exceeded: bool | None = None
    overrides: dict[str, dict[str, Any]] | None = None

    def rules(self) -> ReturnSettings:
        """ReturnSettings' defaults, then whatever the environment set, validated as one."""
        set_here = self.model_dump(include=set(ReturnSettings.model_fields), exclude_none=True)
        return ReturnSettings.model_validate(set_here)
