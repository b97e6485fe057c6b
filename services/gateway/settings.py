"""The gateway's settings (env prefix `FOREWARN_GATEWAY_`): where it listens, its public URL, secrets, limits.

| variable | default | what |
|---|---|---|
| `FOREWARN_GATEWAY_HOST` / `_PORT` | `127.0.0.1` / `8080` | where the HTTP server listens |
| `FOREWARN_GATEWAY_PUBLIC_BASE_URL` | `http://127.0.0.1:8080` | the URL providers call (Twilio signs it) |
| `FOREWARN_GATEWAY_SHOPIFY_SECRET` | unset | Shopify app client secret (webhook HMAC key) |
| `FOREWARN_GATEWAY_STRIPE_SECRET` | unset | Stripe endpoint signing secret, `whsec_...` |
| `FOREWARN_GATEWAY_AFTERSHIP_SECRET` | unset | AfterShip webhook secret |
| `FOREWARN_GATEWAY_TWILIO_AUTH_TOKEN` | unset | Twilio auth token (signs callbacks) |
| `FOREWARN_GATEWAY_SENDGRID_PUBLIC_KEY` | unset | SendGrid signed event webhook verification key (base64) |
| `FOREWARN_GATEWAY_DATABASE_URL` | `FOREWARN_DATABASE_URL` | where the dedupe table lives |
| `FOREWARN_GATEWAY_SHOPIFY_REPLAY_WINDOW_S` / `_AFTERSHIP_REPLAY_WINDOW_S` | 48 h / 72 h | older bodies are refused |

A source whose secret is unset answers 503: nothing unverified is ever published.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import refuse_placeholder

__all__ = ["GatewaySettings"]

MIB = 1024 * 1024
MAX_PROMISE_S = 365 * 24 * 3600


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_GATEWAY_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    env: str = Field(default="development", validation_alias="FOREWARN_ENV")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str = Field(
        default="http://127.0.0.1:8080",
        description="the scheme, host and port providers reach us at; behind a proxy, the proxy's public URL",
    )
    # One secret per source; unset means the endpoint refuses every request.
    shopify_secret: SecretStr | None = None
    stripe_secret: SecretStr | None = None
    aftership_secret: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    sendgrid_public_key: SecretStr | None = Field(
        default=None, description="the verification key SendGrid shows for the signed event webhook"
    )
    stripe_tolerance_s: int = Field(default=300, ge=1, description="how far a Stripe timestamp may be from now")
    sendgrid_tolerance_s: int = Field(default=300, ge=1, description="how far a SendGrid timestamp may be from now")
    shopify_replay_window_s: int = Field(
        default=48 * 3600, ge=60, description="Shopify bodies whose updated_at is older are refused (Shopify "
        "retries for 4 hours with the original payload)")
    aftership_replay_window_s: int = Field(
        default=72 * 3600, ge=60, description="AfterShip webhooks whose ts is older are refused")
    clock_skew_s: int = Field(
        default=300, ge=0, description="how far a provider's body time may be ahead of ours before it is refused")
    max_body_bytes: int = Field(default=MIB, ge=1024, description="larger bodies are refused with 413")
    database_url: str | None = Field(default=None, description="the dedupe table's database; default: the shared one")
    publish_timeout_s: float = Field(
        default=4.0, gt=0, description="longest wait for Kafka's ack; providers give up after a few seconds"
    )
    claim_lease_s: float = Field(
        default=30.0, gt=0, description="a delivery claimed this long ago and never finished may be taken over"
    )
    duplicate_wait_s: float = Field(
        default=5.0, ge=0, description="how long a concurrent duplicate waits for the first delivery to finish"
    )
    dedupe_retention_s: int = Field(
        default=7 * 24 * 3600, ge=3600, description="finished deliveries are remembered this long (providers "
        "retry for up to three days)"
    )
    # Shopify orders carry no promises; these stand in unless the order's note attributes name them.
    ship_within_s: int = Field(default=2 * 24 * 3600, ge=0, le=MAX_PROMISE_S,
                               description="promised_ship_by = placed_at + this")
    deliver_within_s: int = Field(default=7 * 24 * 3600, ge=0, le=MAX_PROMISE_S,
                                  description="promised_delivery_by, standard shipping")
    express_deliver_within_s: int = Field(
        default=3 * 24 * 3600, ge=0, le=MAX_PROMISE_S,
        description="promised_delivery_by for express, expedited or overnight shipping"
    )

    @model_validator(mode="after")
    def _secrets_are_real(self) -> GatewaySettings:
        for name in ("shopify_secret", "stripe_secret", "aftership_secret", "twilio_auth_token", "sendgrid_public_key"):
            value = getattr(self, name)
            if value is not None:
                refuse_placeholder(self.env, f"FOREWARN_GATEWAY_{name.upper()}", value)
        return self

    @model_validator(mode="after")
    def _windows_within_retention(self) -> GatewaySettings:
        """A replay inside a window must still find its dedupe row, so no window may outlast the retention."""
        for name in ("shopify_replay_window_s", "aftership_replay_window_s"):
            if getattr(self, name) + self.clock_skew_s > self.dedupe_retention_s:
                raise ValueError(f"FOREWARN_GATEWAY_{name.upper()} plus the clock skew must not exceed "
                                 "FOREWARN_GATEWAY_DEDUPE_RETENTION_S")
        return self

    def replay_window_s(self, source: str) -> int | None:
        """How old a body's own signed time may be, for sources whose time is in the body; None otherwise."""
        return {"shopify": self.shopify_replay_window_s, "aftership": self.aftership_replay_window_s}.get(source)

    def public_url(self, path: str) -> str:
        """The URL a provider requested, as it saw it (what Twilio signs)."""
        return self.public_base_url.rstrip("/") + path
