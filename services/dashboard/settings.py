"""The dashboard's settings (env prefix `FOREWARN_DASHBOARD_`); Kafka and the database come from CommonSettings."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.settings import refuse_placeholder
from services.dashboard.auth import exposure_problem

__all__ = ["SERVICES", "DashboardSettings"]

SERVICES = ("order-watcher", "returns", "notifier")
"""The services whose consumer groups (`{prefix}forewarn-{service}`) the lag panel watches."""


class DashboardSettings(BaseSettings):
    """Where the dashboard listens, its token, and how much it shows.

    Bound beyond loopback it refuses to exist without a token (see `auth.exposure_problem`)."""

    model_config = SettingsConfigDict(env_prefix="FOREWARN_DASHBOARD_", frozen=True, extra="ignore",
                                      env_ignore_empty=True)

    env: str = Field(default="development", validation_alias="FOREWARN_ENV")
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535, description="0 picks a free port")
    token: SecretStr | None = Field(default=None, description="required when host is not a loopback address")
    services: Annotated[tuple[str, ...], NoDecode] = Field(default=SERVICES, description="comma-separated")
    incidents_per_partition: int = Field(default=25, ge=1, le=1000, description="records tailed per partition")
    incidents_shown: int = Field(default=50, ge=1, le=1000)
    notifications_shown: int = Field(default=50, ge=1, le=1000)
    dead_letters_shown: int = Field(default=5, ge=1, le=100, description="latest records per dead-letter topic")
    rate_window_s: float = Field(default=60.0, ge=1.0, description="rates average over this much history")
    sample_interval_s: float = Field(default=5.0, gt=0, description="offsets are sampled this often for rates")
    refresh_s: float = Field(default=5.0, gt=0, description="how often the page polls the API")
    kafka_timeout_s: float = Field(default=10.0, gt=0)
    store_events_per_partition: int = Field(
        default=500, ge=0, le=100_000, description="records read back per partition of the store's topics for a story")
    feedback_per_partition: int = Field(
        default=5000, ge=0, le=100_000,
        description="records of customer-actions read back per partition for feedback and CSAT")
    care_database_url: str | None = Field(
        default=None, description="care's tables, when care keeps them apart from FOREWARN_DATABASE_URL",
        validation_alias=AliasChoices("FOREWARN_DASHBOARD_CARE_DATABASE_URL", "FOREWARN_CARE_DATABASE_URL"))

    @field_validator("token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("services", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> DashboardSettings:
        problem = exposure_problem(self.host, self.token_value)
        if problem is not None:
            raise ValueError(problem)
        if self.token is not None:
            refuse_placeholder(self.env, "FOREWARN_DASHBOARD_TOKEN", self.token)
        return self

    @property
    def token_value(self) -> str | None:
        return self.token.get_secret_value() if self.token is not None else None
