"""`python -m bench [NAME [OPTIONS...]]`: run benchmarks and write `bench/results/<NAME>.json`.

    python -m bench                          every benchmark, default options, one after another
    python -m bench detection --events 1000000
    python -m bench notifier --incidents 5000
    python -m bench --list

A benchmark is any module `bench/<name>.py` (not starting with `_`) with a function
`run(argv: list[str] | None) -> dict` that parses its own options, measures, and returns its
figures. This runner adds `machine`, `commit` and timing, and writes the JSON file. Adding one
is adding a file: nothing to register.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._support import RESULTS, commit, machine


def available() -> list[str]:
    """The benchmark modules in this package, in name order."""
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def run_one(name: str, argv: list[str]) -> dict[str, Any]:
    module = importlib.import_module(f"bench.{name}")
    started = datetime.now(UTC)
    measured = commit()  # the checkout when the bench began (a commit made while it runs is not what it measured)
    t0 = time.monotonic()
    figures: dict[str, Any] = module.run(argv)
    result = {
        "bench": name,
        **figures,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "machine": figures.get("machine") or machine(),
        "commit": figures.get("commit") or measured,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    tmp.replace(path)
    print(f"bench {name}: wrote {path.relative_to(RESULTS.parents[1])}", file=sys.stderr)
    return result


def main(argv: list[str]) -> int:
    names = available()
    if argv[:1] in (["--list"], ["-l"]):
        print("\n".join(names))
        return 0
    if argv[:1] in (["--help"], ["-h"]):
        print(__doc__)
        return 0
    if argv and not argv[0].startswith("-"):
        if argv[0] not in names:
            print(f"unknown benchmark {argv[0]!r}; available: {', '.join(names)}", file=sys.stderr)
            return 2
        print(json.dumps(run_one(argv[0], argv[1:]), indent=2, default=str))
        return 0
    if argv:
        print("options belong to one benchmark: python -m bench NAME [OPTIONS]", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        try:
            print(json.dumps(run_one(name, []), indent=2, default=str))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"bench {name} failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
