"""The chaos tier: the `chaos` marker, and bench/results/chaos.json written from the scenarios that ran."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.harness import Figures, scale

__all__ = ["ChaosResults"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "chaos.json"
TOTALS = ("expected", "delivered", "lost", "duplicates", "ambiguous_reconciled")
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
"""This pytest run: shared by its xdist workers, new for each run."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: faults and hostile input against every service as a process")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents and not item.get_closest_marker("chaos"):
            item.add_marker(pytest.mark.chaos)


class ChaosResults:
    """The figures of each scenario that ran, written to bench/results/chaos.json after each one."""

    def __init__(self) -> None:
        self.started = datetime.now(UTC)
        self.scenarios: dict[str, dict[str, Any]] = {}

    def record(self, scenario: str, figures: Figures) -> None:
        self.scenarios[scenario] = figures.as_dict()
        self.write()

    def write(self) -> None:
        """Write this run's scenarios, with those other pytest workers of the same run wrote (xdist: each worker
        is a session of its own; `PYTEST_XDIST_TESTRUNUID` names the run they share), under a file lock."""
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with (Path(tempfile.gettempdir()) / "forewarn-chaos-results.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            scenarios, started = dict(self.scenarios), self.started.isoformat(timespec="seconds")
            try:
                earlier = json.loads(RESULTS.read_text())
            except (OSError, ValueError):
                earlier = {}
            if earlier.get("run") == RUN:
                scenarios = {**earlier.get("scenarios", {}), **scenarios}
                started = min(started, str(earlier.get("started_at") or started))
            totals = {name: sum(int(s.get(name, 0)) for s in scenarios.values()) for name in TOTALS}
            head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                  check=False)
            result = {
                "bench": "chaos", "scale": scale().name, **totals, "scenarios": dict(sorted(scenarios.items())),
                "run": RUN, "started_at": started,
                "commit": head.stdout.strip() or None, "python": platform.python_version(),
                "method": "every service as its own process on a real Kafka broker, the official twilio SDK against "
                          "a local fake Twilio (zenpy against a local fake Zendesk for care); each customer is owed "
                          "exactly one SMS (an escalated one: one ticket); lost = owed and never accepted by the "
                          "fake, duplicates = accepted messages beyond the first per customer (tickets beyond one "
                          "per case)",
            }
            tmp = RESULTS.with_suffix(f".json.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
            tmp.replace(RESULTS)


@pytest.fixture(scope="session")
def chaos_results() -> Iterator[ChaosResults]:
    yield ChaosResults()
