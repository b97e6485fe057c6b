"""Provider payloads -> contract events: pure functions of the verified request, no I/O."""

from services.gateway.mapping.aftership import map_aftership
from services.gateway.mapping.base import Ignored, MappingError, Publish, Result
from services.gateway.mapping.sendgrid import map_sendgrid
from services.gateway.mapping.shopify import Promises, map_shopify, store_id_from_domain
from services.gateway.mapping.stripe import map_stripe
from services.gateway.mapping.twilio import map_twilio_inbound, map_twilio_status
from services.gateway.mapping.unsubscribe import map_choice_link, map_feedback_link, map_unsubscribe

__all__ = [
    "Ignored",
    "MappingError",
    "Promises",
    "Publish",
    "Result",
    "map_aftership",
    "map_choice_link",
    "map_feedback_link",
    "map_sendgrid",
    "map_shopify",
    "map_stripe",
    "map_twilio_inbound",
    "map_twilio_status",
    "map_unsubscribe",
    "store_id_from_domain",
]
