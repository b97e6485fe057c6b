"""The gateway's Prometheus metrics: every delivery counted by source and what became of it."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["EVENTS_PUBLISHED", "IGNORED", "WEBHOOKS"]

WEBHOOKS = Counter(
    "forewarn_gateway_webhooks_total", "Webhook deliveries by source and outcome "
    "(published, duplicate, ignored, unauthorized, malformed, too_large, unavailable, not_configured)",
    ["source", "outcome"],
)
IGNORED = Counter("forewarn_gateway_ignored_total", "Genuine deliveries we have no use for, by kind", ["kind"])
EVENTS_PUBLISHED = Counter("forewarn_gateway_events_published_total", "Contract events published", ["topic"])
