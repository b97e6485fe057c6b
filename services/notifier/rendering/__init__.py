"""Rendering of notifier messages: templates, locale-aware formatting, SMS segments."""

from schemas.values import Money

from .context import IncidentFacts, IncidentItem, MessageContext, StoreInfo
from .email_headers import list_unsubscribe_headers
from .render import RenderedMessage, render
from .segments import SegmentInfo, count_segments

__all__ = [
    "IncidentFacts",
    "IncidentItem",
    "MessageContext",
    "Money",
    "RenderedMessage",
    "SegmentInfo",
    "StoreInfo",
    "count_segments",
    "list_unsubscribe_headers",
    "render",
]
