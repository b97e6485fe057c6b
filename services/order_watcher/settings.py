"""order_watcher's settings from the environment (prefix `FOREWARN_WATCH_`): every detection threshold, and batching.

Durations are seconds. Defaults are the rule defaults in `rules.settings.WatchSettings`, so the
two never drift apart. Per-store overrides come as JSON in `FOREWARN_WATCH_OVERRIDES`, with
WatchSettings field names and ISO 8601 durations, e.g. `{"acme": {"ship_grace": "PT6H"}}`.

| variable | default | what |
|---|---|---|
| `FOREWARN_WATCH_SHIP_GRACE_S` | 7200 | slack after promised_ship_by before not_shipped |
| `FOREWARN_WATCH_DELIVERY_GRACE_S` | 0 | slack after promised_delivery_by before not_delivered |
| `FOREWARN_WATCH_TRACKING_STALL_AFTER_S` | 172800 | no carrier checkpoint for this long: tracking_stalled |
| `FOREWARN_WATCH_ETA_SLIP_MIN_STEP_S` | 86400 | a further ETA slip must move the date by this much |
| `FOREWARN_WATCH_DECLINE_WINDOW_S` | 900 | wait for a successful payment before false_decline |
| `FOREWARN_WATCH_ESCALATION_WINDOW_S` | 7776000 | 90 days: a second bad experience in it escalates |
| `FOREWARN_WATCH_ESCALATION_HISTORY_LIMIT` | 16 | incidents remembered per customer |
| `FOREWARN_WATCH_HIGH_VALUE_THRESHOLD` | 200 | order value from which an escalation is at least tier 2 |
| `FOREWARN_WATCH_RETRY_URL_TEMPLATE` | `https://{store_id}.example/pay/{order_id}` | payment retry link |
| `FOREWARN_WATCH_SEEN_IDS_LIMIT` | 64 | event ids remembered per order (dedupe) |
| `FOREWARN_WATCH_EARLY_EVENTS_LIMIT` | 32 | events held for an order not seen yet |
| `FOREWARN_WATCH_SHIPMENTS_LIMIT` | 8 | shipments tracked per order |
| `FOREWARN_WATCH_ORPHAN_TTL_S` | 604800 | how long events of a never-seen order are held |
| `FOREWARN_WATCH_RETAIN_FOR_S` | 2592000 | how long a closed order's state is kept |
| `FOREWARN_WATCH_OVERRIDES` | `{}` | per-store overrides (JSON, see above) |
| `FOREWARN_WATCH_BATCH_SIZE` | 500 | messages an agent takes from its stream per batch |
| `FOREWARN_WATCH_BATCH_WAIT_S` | 0.05 | longest wait to fill a batch (adds at most this to latency) |
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.batching import BatchSettings
from services.order_watcher.rules import WatchSettings

__all__ = ["DURATIONS", "OrderWatcherSettings"]

_RULES = WatchSettings()

DURATIONS = (
    "ship_grace",
    "delivery_grace",
    "tracking_stall_after",
    "eta_slip_min_step",
    "decline_window",
    "escalation_window",
    "orphan_ttl",
    "retain_for",
)
"""WatchSettings fields that are durations: set here in seconds, as `<name>_s`."""


def _seconds(name: str) -> Any:
    default: timedelta = getattr(_RULES, name)
    description = WatchSettings.model_fields[name].description
    return Field(default=default.total_seconds(), ge=0, description=f"seconds. {description}")


def _same(name: str) -> Any:
    return Field(default=getattr(_RULES, name), description=WatchSettings.model_fields[name].description)


class OrderWatcherSettings(BatchSettings):
    """The detection thresholds and batching, read from `FOREWARN_WATCH_*`; `rules()` gives the rules' WatchSettings."""

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_WATCH_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    ship_grace_s: float = _seconds("ship_grace")
    delivery_grace_s: float = _seconds("delivery_grace")
    tracking_stall_after_s: float = _seconds("tracking_stall_after")
    eta_slip_min_step_s: float = _seconds("eta_slip_min_step")
    decline_window_s: float = _seconds("decline_window")
    escalation_window_s: float = _seconds("escalation_window")
    orphan_ttl_s: float = _seconds("orphan_ttl")
    retain_for_s: float = _seconds("retain_for")
    escalation_history_limit: int = _same("escalation_history_limit")
    high_value_threshold: Decimal = _same("high_value_threshold")
    retry_url_template: str = _same("retry_url_template")
    seen_ids_limit: int = _same("seen_ids_limit")
    early_events_limit: int = _same("early_events_limit")
    shipments_limit: int = _same("shipments_limit")
    overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-store overrides of WatchSettings fields, as JSON"
    )

    def rules(self) -> WatchSettings:
        """The validated WatchSettings these values describe (raises ValueError when they are not valid)."""
        values: dict[str, Any] = {name: timedelta(seconds=getattr(self, f"{name}_s")) for name in DURATIONS}
        plain = set(WatchSettings.model_fields) - set(DURATIONS)
        values.update({name: getattr(self, name) for name in plain})
        return WatchSettings.model_validate(values)
