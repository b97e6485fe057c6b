"""The signed links of one notification's email: unsubscribe, one link per offered choice, the five feedback scores."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from schemas.choices import Choice, known_choice
from services.common.links import LinkSigner
from services.common.settings import DEV_LINK_SECRET, CommonSettings
from services.notifier.rendering.locales import template_locale

__all__ = ["EmailLinks"]

DEFAULT_TTL = timedelta(days=7)


class EmailLinks:
    """Builds the URLs the gateway serves (`/unsubscribe/{token}`, `/choices/{token}?lang=..`,
    `/feedback/{token}?lang=..`)."""

    def __init__(self, signer: LinkSigner, base_url: str, ttl: timedelta = DEFAULT_TTL) -> None:
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    @classmethod
    def from_settings(cls, common: CommonSettings, base_url: str) -> EmailLinks:
        return cls(LinkSigner(common.link_secret.get_secret_value()), base_url,
                   timedelta(seconds=common.choice_link_ttl_s))

    @classmethod
    def development(cls, base_url: str) -> EmailLinks:
        """Signed with the development secret, as the gateway verifies by default in development and tests."""
        return cls(LinkSigner(DEV_LINK_SECRET), base_url)

    def unsubscribe(self, notification_id: str) -> str:
        return f"{self.base_url}/unsubscribe/{quote(self.signer.unsubscribe_token(notification_id), safe='')}"

    def choices(
        self, notification_id: str, offered: Iterable[str], *, now: datetime, locale: str | None,
    ) -> dict[str, str]:
        """One link per offered choice, valid for the TTL from `now`; the page speaks the customer's language."""
        expires = now + self.ttl
        query = urlencode({"lang": template_locale(locale)})
        links: dict[str, str] = {}
        for name in offered:
            choice: Choice | None = known_choice(name)
            if choice is None:
                continue
            token = self.signer.choice_token(notification_id, choice, expires)
            links[choice] = f"{self.base_url}/choices/{quote(token, safe='')}?{query}"
        return links

    def feedback(self, notification_id: str, *, now: datetime, locale: str | None) -> dict[int, str]:
        """One link per score (1 to 5) answering the feedback question `notification_id`, valid for the TTL."""
        expires = now + self.ttl
        query = urlencode({"lang": template_locale(locale)})
        tokens = {score: self.signer.feedback_token(notification_id, score, expires) for score in range(1, 6)}
        return {score: f"{self.base_url}/feedback/{quote(token, safe='')}?{query}" for score, token in tokens.items()}
