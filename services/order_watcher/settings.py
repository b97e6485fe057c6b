"""order_watcher's settings from the environment (prefix `FOREWARN_WATCH_`): every detection threshold, and batching.

Durations are seconds or ISO 8601 (`7200` or `PT2H`); each also answers to its name with `_S` (e.g.
`FOREWARN_WATCH_SHIP_GRACE_S`). An unset knob keeps its default in `rules.settings.WatchSettings`,
the one place defaults live. Per-store overrides come as JSON in `FOREWARN_WATCH_OVERRIDES`, with
WatchSettings field names and ISO 8601 durations, e.g. `{"acme": {"ship_grace": "PT6H"}}`.

| variable | default | what |
|---|---|---|
| `FOREWARN_WATCH_SHIP_GRACE` | `PT2H` | slack after promised_ship_by before not_shipped |
| `FOREWARN_WATCH_DELIVERY_GRACE` | `PT0S` | slack after promised_delivery_by before not_delivered |
| `FOREWARN_WATCH_TRACKING_STALL_AFTER` | `PT48H` | no carrier checkpoint for this long: tracking_stalled |
| `FOREWARN_WATCH_ETA_SLIP_MIN_STEP` | `P1D` | a further ETA slip must move the date by this much |
| `FOREWARN_WATCH_DECLINE_WINDOW` | `PT15M` | wait for a successful payment before false_decline |
| `FOREWARN_WATCH_ESCALATION_WINDOW` | `P90D` | a second bad experience in it escalates |
| `FOREWARN_WATCH_ESCALATION_HISTORY_LIMIT` | 16 | incidents remembered per customer |
| `FOREWARN_WATCH_HIGH_VALUE_THRESHOLD` | 200 | order value from which an escalation is at least tier 2 |
| `FOREWARN_WATCH_RETRY_URL_TEMPLATE` | `https://{store_id}.example/pay/{order_id}` | payment retry link |
| `FOREWARN_WATCH_SEEN_IDS_LIMIT` | 64 | event ids remembered per order (dedupe) |
| `FOREWARN_WATCH_EARLY_EVENTS_LIMIT` | 32 | events held for an order not seen yet |
| `FOREWARN_WATCH_SHIPMENTS_LIMIT` | 8 | shipments tracked per order |
| `FOREWARN_WATCH_ORPHAN_TTL` | `P7D` | how long events of a never-seen order are held |
| `FOREWARN_WATCH_RETAIN_FOR` | `P30D` | how long a closed order's state is kept |
| `FOREWARN_WATCH_OVERRIDES` | `{}` | per-store overrides (JSON, see above) |
| `FOREWARN_WATCH_BATCH_SIZE` | 500 | messages an agent takes from its stream per batch |
| `FOREWARN_WATCH_BATCH_WAIT_S` | 0.05 | longest, in seconds, a batch takes messages that keep coming |
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic_settings import SettingsConfigDict

from services.common.batching import BatchSettings
from services.common.settings import Duration, duration_knob
from services.order_watcher.rules import WatchSettings

__all__ = ["OrderWatcherSettings"]

_PREFIX = "FOREWARN_WATCH_"


class OrderWatcherSettings(BatchSettings):
    """The detection thresholds and batching, read from `FOREWARN_WATCH_*`; `rules()` gives the rules' WatchSettings.

    Each threshold is named as its WatchSettings field; unset (None) it keeps WatchSettings' default."""

    model_config = SettingsConfigDict(env_prefix=_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True)

    ship_grace: Duration | None = duration_knob(_PREFIX, "ship_grace")
    delivery_grace: Duration | None = duration_knob(_PREFIX, "delivery_grace")
    tracking_stall_after: Duration | None = duration_knob(_PREFIX, "tracking_stall_after")
    eta_slip_min_step: Duration | None = duration_knob(_PREFIX, "eta_slip_min_step")
    decline_window: Duration | None = duration_knob(_PREFIX, "decline_window")
    escalation_window: Duration | None = duration_knob(_PREFIX, "escalation_window")
    orphan_ttl: Duration | None = duration_knob(_PREFIX, "orphan_ttl")
    retain_for: Duration | None = duration_knob(_PREFIX, "retain_for")
    escalation_history_limit: int | None = None
    high_value_threshold: Decimal | None = None
    retry_url_template: str | None = None
    seen_ids_limit: int | None = None
    early_events_limit: int | None = None
    shipments_limit: int | None = None
    overrides: dict[str, dict[str, Any]] | None = None

    def rules(self) -> WatchSettings:
        """WatchSettings' defaults, then whatever the environment set, validated as one (ValueError if not valid)."""
        set_here = self.model_dump(include=set(WatchSettings.model_fields), exclude_none=True)
        return WatchSettings.model_validate(set_here)
