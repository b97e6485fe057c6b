"""Typed, frozen settings shared by every service (env prefix `FOREWARN_`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEV_LINK_SECRET",
    "PLACEHOLDER_SECRETS",
    "CommonSettings",
    "Duration",
    "EventLoopKind",
    "duration_knob",
    "refuse_placeholder",
]

EventLoopKind = Literal["uvloop", "asyncio"]
"""The event loop a service process runs on."""

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "test", "xxx"})
DEV_LINK_SECRET = "forewarn-development-link-secret"  # noqa: S105 (refused outside development and tests)
"""Signs links in development and tests only; production refuses to start with it."""


def _number_is_seconds(value: Any) -> Any:
    """Pydantic reads a number as seconds, but not a number written as text, which is all the environment has."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


Duration = Annotated[timedelta, Field(ge=timedelta(0)), BeforeValidator(_number_is_seconds)]
"""A duration knob's value: ISO 8601 (`PT6H`, `P30D`) or seconds (`7200`, `0.5`); never negative (the bound
comes before the validator so pydantic checks it on the timedelta itself: "greater than or equal to 0 seconds")."""


def duration_knob(env_prefix: str, name: str) -> Any:
    """The field of a Duration knob `name`: set by `<env_prefix><NAME>` or `<env_prefix><NAME>_S` (the name
    it had when durations were seconds only). Unset it is None, so the rule settings' default applies."""
    variable = (env_prefix + name).upper()
    return Field(default=None, validation_alias=AliasChoices(variable, variable + "_S"))


def refuse_placeholder(env: str, name: str, value: SecretStr | None) -> None:
    """Outside development and tests a secret must be set to something real."""
    if env == "production" and (value is None or value.get_secret_value().lower() in PLACEHOLDER_SECRETS):
        raise ValueError(f"{name} must be set to a real secret in production")


class CommonSettings(BaseSettings):
    """What every process needs: where Kafka and the database are, how to name topics, logging."""

    model_config = SettingsConfigDict(
        env_prefix="FOREWARN_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    env: Literal["development", "test", "production"] = "development"
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("FOREWARN_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    topic_prefix: str = Field(default="", description="prefix for every topic name (tests use a random one)")
    partitions: int = Field(default=4, ge=1, description="partitions for topics created by Forewarn")
    store: str = Field(default="memory://", description="Faust table store: memory:// or rocksdb://")
    data_dir: str = Field(default="var", description="Faust table data and local files")
    database_url: str = Field(
        default="sqlite+aiosqlite:///var/forewarn.db",
        validation_alias=AliasChoices("FOREWARN_DATABASE_URL", "DATABASE_URL"),
    )
    tick_interval_s: float = Field(
        default=0.5, gt=0,
        description="how often deadline ticks are sent: a deadline fires at most this long after it is due, plus "
                    "processing (half a second keeps lateness p99 under 2 s at steady traffic: bench watermark)")
    overdue_hold_s: float = Field(
        default=10.0, ge=0,
        description="a deadline already due when scheduled waits this long for what was published with it")
    fetch_max_wait_ms: int = Field(
        default=100, ge=0, le=1500,
        description="longest the broker holds a fetch for data (Faust's own 1,500 delayed busy partitions)")
    event_loop: EventLoopKind = Field(
        default="uvloop",
        description="the event loop of a service process, Faust's consumer thread included (bench detection: "
                    "order_watcher's CPU per event 0.74-0.99 of asyncio's, median 0.81, same-run ratios)")
    commit_every: int = Field(
        default=10_000, ge=1,
        description="also commit after this many acknowledged messages; every commit first flushes the producer, "
                    "so one below an agent's batch size stalls every batch (bench detection: 10,000 vs 100, CPU "
                    "per event 0.79-1.03, median 0.85)")
    commit_interval_s: float = Field(
        default=1.0, gt=0, description="commit acknowledged offsets at least this often")
    max_poll_records: int | None = Field(
        default=None, ge=1, description="most records one fetch hands to Faust (default: all a fetch brought)")
    fetch_max_partition_bytes: int = Field(
        default=1024 * 1024, ge=4096,
        description="most bytes a fetch brings of one partition (4 MiB measured no better: batches are filled by "
                    "how fast Faust's stream moves records into them, not by fetches)")
    fetch_min_bytes: int = Field(
        default=1, ge=1,
        description="the broker answers a fetch once it has this many bytes, or after `fetch_max_wait_ms` (64 KiB "
                    "measured no better, and it holds quiet topics' records the full wait)")
    producer_linger_ms: int = Field(
        default=5, ge=0, description="how long the producer waits to fill a batch (changelog and outputs)")
    session_timeout_s: float = Field(
        default=20.0, ge=6, description="a worker silent this long leaves its group; its partitions move on")
    max_message_bytes: int | None = Field(
        default=None, ge=4096,
        description="largest record this service produces; default: the broker's message.max.bytes, read at "
                    "start (a value above it refuses to start)")
    stop_deadline_s: float = Field(
        default=6.0, gt=0, description="after SIGTERM (or a fatal error) the process ends within this many seconds")
    log_level: str = "INFO"
    log_json: bool = False
    metrics_port: int | None = Field(default=None, description="serve Prometheus /metrics on this port")
    link_secret: SecretStr = Field(
        default=SecretStr(DEV_LINK_SECRET),
        description="signs the unsubscribe and choice links in emails (the notifier signs, the gateway verifies)")
    choice_link_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60,
        description="how long an email's choice links work; at most the gateway's dedupe retention")

    @model_validator(mode="after")
    def _production_needs_a_link_secret(self) -> CommonSettings:
        if self.env == "production" and self.link_secret.get_secret_value() == DEV_LINK_SECRET:
            raise ValueError("FOREWARN_LINK_SECRET must be set to a real secret in production")
        refuse_placeholder(self.env, "FOREWARN_LINK_SECRET", self.link_secret)
        return self

    @model_validator(mode="after")
    def _production_needs_durable_store(self) -> CommonSettings:
        if self.env == "production" and self.store.startswith("memory"):
            raise ValueError("production needs a durable table store (FOREWARN_STORE=rocksdb://)")
        return self

    def topic(self, base: str) -> str:
        """The full name of a registry topic for this deployment."""
        return self.topic_prefix + base
