"""The care service's settings (env prefix `FOREWARN_CARE_`): the help desk, its ledger, routing per store."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.care.routing import RoutingRules
from services.care.support_hours import SupportHours
from services.common.settings import refuse_placeholder

__all__ = ["CareSettings"]


class CareSettings(BaseSettings):
    """`desk` picks the help desk: `zendesk` (zenpy), `webhook` (signed JSON POST) or `console` (a local file)."""

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_CARE_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    env: str = Field(default="development", validation_alias="FOREWARN_ENV")
    desk: Literal["console", "zendesk", "webhook"] = "console"
    # Zendesk: subdomain, agent email and API token; base_url points zenpy elsewhere (a proxy, a local fake).
    zendesk_subdomain: str | None = None
    zendesk_email: str | None = None
    zendesk_token: SecretStr | None = None
    zendesk_base_url: str | None = Field(default=None, description="override https://<subdomain>.zendesk.com")
    zendesk_groups: dict[str, int] = Field(
        default_factory=dict, description="queue name -> Zendesk group id, e.g. {\"es\": 360001, \"stock\": 360002}")
    zendesk_ratelimit_budget_s: int = Field(default=60, ge=1, description="longest zenpy waits out 429s per call")
    # Generic webhook: every ticket and comment POSTed as signed JSON.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_max_attempts: int = Field(default=4, ge=1)
    webhook_backoff_s: float = Field(default=0.5, ge=0)
    # Console desk.
    outbox_path: str = "var/care-desk.jsonl"
    desk_timeout_s: float = Field(default=10.0, gt=0)
    # The ledger: care's own tables (default: the shared FOREWARN_DATABASE_URL); the notifier's ledger is read
    # from FOREWARN_DATABASE_URL, read-only.
    database_url: str | None = None
    claim_lease_s: float = Field(
        default=30.0, gt=0, description="a desk call claimed longer ago than this is taken back (its worker died)")
    retry_after_s: float = Field(default=10.0, ge=0, description="wait this long before sending a case again")
    resume_poll_s: float = Field(default=2.0, gt=0, description="how often cases not yet at the desk are resumed")
    story_wait_s: float = Field(
        default=20.0, ge=0,
        description="longest an escalation waits for the notifier's ledger to hold every incident it names")
    # Routing: defaults for every store, then per store (JSON keyed by store id), e.g.
    # FOREWARN_CARE_STORES='{"acme": {"languages": ["en", "es"], "skill_order": ["stock", "delivery"]}}'
    low_feedback_score: int = Field(default=2, ge=0, le=5, description="feedback at or below this goes to a person")
    # When the store's people answer: the customer is told a person gets in touch by then (issue 11 item 3).
    support_hours: SupportHours = Field(default_factory=SupportHours)
    support_hours_by_store: dict[str, SupportHours] = Field(default_factory=dict)
    routing: RoutingRules = Field(default_factory=RoutingRules)
    stores: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _desk_is_complete(self) -> CareSettings:
        if self.desk == "zendesk":
            if not (self.zendesk_subdomain and self.zendesk_email and self.zendesk_token):
                raise ValueError("the zendesk desk needs FOREWARN_CARE_ZENDESK_SUBDOMAIN, _EMAIL and _TOKEN")
            refuse_placeholder(self.env, "FOREWARN_CARE_ZENDESK_TOKEN", self.zendesk_token)
        if self.desk == "webhook":
            if not (self.webhook_url and self.webhook_secret):
                raise ValueError("the webhook desk needs FOREWARN_CARE_WEBHOOK_URL and FOREWARN_CARE_WEBHOOK_SECRET")
            refuse_placeholder(self.env, "FOREWARN_CARE_WEBHOOK_SECRET", self.webhook_secret)
        for store in self.stores:
            self.rules_for(store)  # a bad override refuses to start, not at the first case
        return self

    def hours_for(self, store_id: str) -> SupportHours:
        """The store's support hours, else the default ones."""
        return self.support_hours_by_store.get(store_id, self.support_hours)

    def rules_for(self, store_id: str) -> RoutingRules:
        """The store's routing rules: the defaults with the store's overrides on top (validated as one)."""
        override = self.stores.get(store_id)
        if not override:
            return self.routing
        return RoutingRules.model_validate({**self.routing.model_dump(), **override})
