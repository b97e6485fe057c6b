"""Run Forewarn services as real processes in tests, each with its own log file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

__all__ = ["ServiceProcess"]

ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    """`python -m services.<module>` with the given environment; waits for its "ready" log line."""

    def __init__(self, module: str, env: dict[str, str], log_dir: Path, name: str | None = None,
                 root: Path = ROOT) -> None:
        self.module = module
        self.root = root
        """The checkout the module is run from (another commit's, for a side-by-side benchmark)."""
        self.name = name or module.rsplit(".", 1)[-1]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self, wait_ready: bool = True, timeout: float = 90.0) -> Self:
        self._starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n----- start #{self._starts} -----\n".encode())
        log.flush()
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], cwd=self.root, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        if wait_ready:
            self.wait_for_log(" ready", timeout=timeout, occurrence=self._starts)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, needle: str, timeout: float = 60.0, occurrence: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log().count(needle) >= occurrence:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not log {needle!r} in {timeout}s:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, no commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
