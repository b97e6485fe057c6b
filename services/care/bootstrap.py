"""Build care's clients from settings, in one place; nothing connects at import time."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.care.desks import ConsoleDesk, Desk, WebhookDesk, ZendeskDesk
from services.care.handoff import HandOff
from services.care.ledger import CareLedger
from services.care.migrate import upgrade
from services.care.settings import CareSettings
from services.care.story_source import DeliveryReader
from services.common.clock import Clock
from services.common.db import create_engine, session_factory
from services.common.settings import CommonSettings

__all__ = ["build_desk", "ledger_url", "migrate_database", "open_handoff"]

logger = logging.getLogger(__name__)


def build_desk(settings: CareSettings) -> Desk:
    """The configured help desk (settings refuse an incomplete one at start)."""
    desk: Desk
    if settings.desk == "zendesk":
        assert settings.zendesk_subdomain and settings.zendesk_email and settings.zendesk_token  # noqa: S101
        desk = ZendeskDesk(subdomain=settings.zendesk_subdomain, email=settings.zendesk_email,
                           token=settings.zendesk_token.get_secret_value(), base_url=settings.zendesk_base_url,
                           timeout_s=settings.desk_timeout_s, ratelimit_budget_s=settings.zendesk_ratelimit_budget_s,
                           groups=settings.zendesk_groups)
    elif settings.desk == "webhook":
        assert settings.webhook_url and settings.webhook_secret  # noqa: S101
        desk = WebhookDesk(url=settings.webhook_url, secret=settings.webhook_secret.get_secret_value(),
                           timeout_s=settings.desk_timeout_s, max_attempts=settings.webhook_max_attempts,
                           backoff_s=settings.webhook_backoff_s)
    else:
        desk = ConsoleDesk(settings.outbox_path)
    logger.info("help desk: %s", desk.name)
    return desk


def ledger_url(common: CommonSettings, settings: CareSettings) -> str:
    return settings.database_url or common.database_url


async def migrate_database(common: CommonSettings, settings: CareSettings | None = None) -> None:
    """Bring care's tables up to date; run before the worker starts, so "ready" comes after it."""
    engine = create_engine(ledger_url(common, settings or CareSettings()))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    logger.info("care tables up to date")


def open_handoff(common: CommonSettings, settings: CareSettings, clock: Clock) -> HandOff:
    """Care's ledger, the notifier's ledger read-only, and the desk, wired; nothing connects until first used
    (the tables are migrated by `migrate_database` before the worker starts)."""
    engine = create_engine(ledger_url(common, settings))
    ledger = CareLedger(session_factory(engine), lease=timedelta(seconds=settings.claim_lease_s))
    deliveries = DeliveryReader(common.database_url)
    return HandOff(ledger=ledger, deliveries=deliveries, desk=build_desk(settings), settings=settings, clock=clock,
                   engine=engine)
