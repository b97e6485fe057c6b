"""The notifier as its own process in end-to-end tests: its environment against the fake providers, what it
recorded in its SQLite ledger, and what each phone received."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from schemas import CloudEvent
from tests.support.fake_providers import FakeProviders
from tests.support.kafka_io import produce
from tests.support.processes import ServiceProcess

__all__ = ["NotifierDeployment", "notifier_env"]


def notifier_env(kafka: str, prefix: str, tmp: Path, fake: FakeProviders, **settings: str) -> dict[str, str]:
    """Real Twilio and SendGrid SDKs pointed at `fake`, a SQLite ledger under `tmp`; `settings` are
    FOREWARN_NOTIFIER_<NAME> values (`sms_window_start="08:00"`)."""
    return {
        "FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": prefix, "FOREWARN_PARTITIONS": "2",
        "FOREWARN_DATA_DIR": str(tmp / "data"), "FOREWARN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'n.db'}",
        "FOREWARN_NOTIFIER_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "FOREWARN_NOTIFIER_TWILIO_AUTH_TOKEN": "test-auth-token-not-real",
        "FOREWARN_NOTIFIER_TWILIO_FROM": "+15005550006",
        "FOREWARN_NOTIFIER_TWILIO_BASE_URL": fake.url,
        "FOREWARN_NOTIFIER_SENDGRID_API_KEY": "SG.test-key",
        "FOREWARN_NOTIFIER_SENDGRID_HOST": fake.url,
        **{f"FOREWARN_NOTIFIER_{name.upper()}": value for name, value in settings.items()},
    }


@dataclass
class NotifierDeployment:
    kafka: str
    prefix: str
    notifier: ServiceProcess
    fake: FakeProviders
    database: Path

    def publish(self, topic: str, *events: CloudEvent) -> None:
        asyncio.run(produce(self.kafka, self.prefix + topic, [(e.key(), e.to_bytes()) for e in events]))

    def sms_to(self, phone: str) -> list[str]:
        return [r.form["Body"] for r in self.fake.sends("twilio") if r.form.get("To") == phone]

    def wait_sms(self, phone: str, count: int, timeout: float = 30.0) -> list[str]:
        """The SMS sent to `phone` once there are `count` of them (or after `timeout`, however many)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.sms_to(phone)) < count:
            time.sleep(0.1)
        return self.sms_to(phone)

    def wait_opted_out(self, channel: str, address: str, timeout: float = 30.0) -> None:
        """Until the notifier has recorded the opt-out (profiles and incidents are separate streams)."""
        self._wait_for("select 1 from contact_optouts where channel = ? and address = ? and opted_out",
                       (channel, address), f"the {channel} opt-out", timeout)

    def wait_resolved(self, incident_id: str, timeout: float = 30.0) -> None:
        """Until the notifier has recorded the incident's resolution."""
        self._wait_for("select 1 from resolved_incidents where incident_id = ?", (incident_id,),
                       f"the resolution of {incident_id}", timeout)

    def _wait_for(self, query: str, params: tuple[str, ...], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.Error), sqlite3.connect(self.database) as conn:
                if conn.execute(query, params).fetchone() is not None:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"the notifier did not record {what} in {timeout}s")
