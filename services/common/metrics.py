"""Prometheus metrics shared by the services, and the /metrics endpoint."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

__all__ = [
    "DEAD_LETTERS",
    "EVENTS_CONSUMED",
    "HANDLER_SECONDS",
    "INCIDENTS_EMITTED",
    "NOTIFICATIONS",
    "serve_metrics",
]

logger = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter("forewarn_events_consumed_total", "Events consumed", ["service", "topic"])
DEAD_LETTERS = Counter("forewarn_dead_letters_total", "Messages sent to a dead-letter topic", ["topic", "error"])
HANDLER_SECONDS = Histogram("forewarn_handler_seconds", "Time to handle one event", ["service", "topic"])
INCIDENTS_EMITTED = Counter("forewarn_incidents_total", "Incidents emitted", ["kind"])
NOTIFICATIONS = Counter("forewarn_notifications_total", "Notification outcomes", ["status", "channel"])


def serve_metrics(port: int | None) -> None:
    """Serve /metrics on 127.0.0.1:port when a port is configured."""
    if port:
        start_http_server(port, addr="127.0.0.1")
        logger.info("metrics on http://127.0.0.1:%d/metrics", port)
