"""`forewarn <service>`: one console script for every service process."""

from __future__ import annotations

import runpy
import sys

__all__ = ["main"]

SERVICES = {"order-watcher": "services.order_watcher", "notifier": "services.notifier", "returns": "services.returns",
            "care": "services.care", "gateway": "services.gateway", "dashboard": "services.dashboard",
            "simulator": "services.simulator"}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in SERVICES:
        print(f"usage: forewarn {{{'|'.join(SERVICES)}}} [args]", file=sys.stderr)
        raise SystemExit(2)
    name = sys.argv.pop(1)
    runpy.run_module(SERVICES[name], run_name="__main__", alter_sys=True)
