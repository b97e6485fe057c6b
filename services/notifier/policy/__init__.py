"""Notification policy: pure decisions over plain data (consent, channel, coalescing, cap, quiet hours, staleness)."""

from .channel import channel_block, choose_channel
from .coalescing import coalesce, is_news
from .frequency import frequency_cap
from .model import (
    CapDecision,
    ChannelChoice,
    CoalesceDecision,
    Decision,
    IncidentRef,
    OrderMessage,
    PolicySettings,
    Profile,
    Reason,
)
from .pipeline import evaluate
from .quiet_hours import quiet_hours, resolve_zone
from .staleness import is_stale, withdraw_resolved

__all__ = [
    "CapDecision",
    "ChannelChoice",
    "CoalesceDecision",
    "Decision",
    "IncidentRef",
    "OrderMessage",
    "PolicySettings",
    "Profile",
    "Reason",
    "channel_block",
    "choose_channel",
    "coalesce",
    "evaluate",
    "frequency_cap",
    "is_news",
    "is_stale",
    "quiet_hours",
    "resolve_zone",
    "withdraw_resolved",
]
