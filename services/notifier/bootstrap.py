"""Build the notifier's clients from settings, in one place; nothing connects at import time."""

from __future__ import annotations

import logging

from services.common.db import create_engine, session_factory
from services.common.settings import CommonSettings
from services.notifier.dispatch import Providers
from services.notifier.ledger import Ledger
from services.notifier.migrate import upgrade
from services.notifier.profiles import ProfileStore
from services.notifier.providers import ConsoleOutbox, EmailProvider, SendGridEmail, SmsProvider, TwilioSms
from services.notifier.settings import NotifierSettings

__all__ = ["build_providers", "migrate_database", "open_database"]

logger = logging.getLogger(__name__)


def build_providers(settings: NotifierSettings) -> Providers:
    """Twilio and SendGrid when their credentials are set; the console outbox otherwise."""
    outbox = ConsoleOutbox(settings.outbox_path)
    sms: SmsProvider = outbox
    email: EmailProvider = outbox
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from:
        sms = TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                        settings.twilio_from, base_url=settings.twilio_base_url, timeout=settings.provider_timeout_s)
    if settings.sendgrid_api_key is not None:
        email = SendGridEmail(settings.sendgrid_api_key.get_secret_value(), settings.sendgrid_from,
                              host=settings.sendgrid_host)
    logger.info("providers: sms=%s email=%s", sms.name, email.name)
    return Providers(sms=sms, email=email)


async def migrate_database(common: CommonSettings) -> None:
    """Bring the database schema up to date; run before the worker starts, so "ready" comes after it."""
    engine = create_engine(common.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    logger.info("database schema up to date")


async def open_database(common: CommonSettings) -> tuple[Ledger, ProfileStore]:
    """Open the database, bring its schema up to date (a no-op after `migrate_database`), and hand out the
    ledger and the profile store."""
    engine = create_engine(common.database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    return Ledger(sessions), ProfileStore(sessions)
