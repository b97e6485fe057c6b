"""Notification policy: pure decisions over plain data (consent, channel, coalescing, cap, quiet hours, staleness,
promises and follow-ups)."""

from .channel import channel_block, choose_channel
from .coalescing import coalesce, is_news
from .follow_up import PROMISE_SPANS, FollowUpDecision, Promise, PromiseSettings, follow_up_due, promise_for
from .frequency import frequency_cap
from .model import (
    CHANNELS,
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
from .pipeline import evaluate, evaluate_follow_up
from .quiet_hours import quiet_hours, resolve_zone
from .staleness import is_stale, withdraw_resolved

__all__ = [
    "CHANNELS",
    "PROMISE_SPANS",
    "CapDecision",
    "ChannelChoice",
    "CoalesceDecision",
    "Decision",
    "FollowUpDecision",
    "IncidentRef",
    "OrderMessage",
    "PolicySettings",
    "Profile",
    "Promise",
    "PromiseSettings",
    "Reason",
    "channel_block",
    "choose_channel",
    "coalesce",
    "evaluate",
    "evaluate_follow_up",
    "follow_up_due",
    "frequency_cap",
    "is_news",
    "is_stale",
    "promise_for",
    "quiet_hours",
    "resolve_zone",
    "withdraw_resolved",
]
