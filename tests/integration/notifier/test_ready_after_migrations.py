"""The notifier says ready only once its database schema is at the latest migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from services.notifier.migrate import alembic_config
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.integration


def test_ready_comes_after_the_migrations(kafka: str, topic_prefix: str, tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    url = f"sqlite+aiosqlite:///{db}"
    env = {"FOREWARN_KAFKA_BOOTSTRAP_SERVERS": kafka, "FOREWARN_TOPIC_PREFIX": topic_prefix,
           "FOREWARN_PARTITIONS": "2", "FOREWARN_DATA_DIR": str(tmp_path / "data"), "FOREWARN_DATABASE_URL": url,
           "FOREWARN_NOTIFIER_OUTBOX_PATH": str(tmp_path / "outbox.jsonl")}
    notifier = ServiceProcess("services.notifier", env, tmp_path).start()
    try:
        with sqlite3.connect(db) as connection:  # read the moment "ready" is logged
            revisions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    finally:
        notifier.stop()
    assert revisions == [ScriptDirectory.from_config(alembic_config(url)).get_current_head()]
    log = notifier.log()
    assert log.index("database schema up to date") < log.index("notifier ready")
