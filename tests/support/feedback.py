"""`feedback.given` events as the notifier publishes them, for the dashboard's feedback and CSAT tests."""

from __future__ import annotations

from datetime import datetime

from schemas import CUSTOMER_ACTIONS, CloudEvent, make_event
from tests.support.kafka_io import produce

__all__ = ["feedback_given", "publish_feedback"]


def feedback_given(question: str, *, score: int, at: datetime, kind: str = "stockout", incident_id: str = "inc-stock",
                   customer_id: str = "cus_1", order_id: str | None = "ord-1", order_number: str | None = "#1001",
                   text: str | None = None, channel: str = "sms", event_id: str | None = None) -> CloudEvent:
    """The answer to the question `question` (its notification id), shaped as `services.notifier.inbound` makes it."""
    data = {"feedback_id": question, "incident_id": incident_id, "kind": kind, "order_id": order_id,
            "order_number": order_number, "customer_id": customer_id, "store_id": "acme", "score": score,
            "text": text, "channel": channel, "notification_id": question, "locale": "en", "given_at": at}
    return make_event("feedback.given", {k: v for k, v in data.items() if v is not None}, source="forewarn/notifier",
                      subject=order_id or customer_id, time=at, id=event_id or f"feedback-{question}-{at.isoformat()}")


async def publish_feedback(bootstrap: str, prefix: str, events: list[CloudEvent]) -> None:
    """The events on `customer-actions` (the topic must exist), keyed by their subject as the notifier keys them."""
    await produce(bootstrap, f"{prefix}{CUSTOMER_ACTIONS}", [(event.key(), event.to_bytes()) for event in events])
