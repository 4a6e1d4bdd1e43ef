"""Run every benchmark and print one table: durabletask's built-in externalization against ours.

    python benchmarks/run.py            # all of them (about two minutes on a 2-core machine)
    python benchmarks/run.py walk e2e   # some of them

Ratios, not absolute times, are what to compare: both sides run in the same
process, on the same data (fixed seeds), one after the other. The exit status is
1 when a target is not met.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time

import _common  # noqa: F401 - puts the repository on sys.path
from _common import Row, print_table

import durabletask_payloads
from durabletask_payloads import _compression

BENCHMARKS = ["walk", "compress", "resolve", "replay", "fanout", "e2e", "memory", "members", "stall", "scale"]


def main(names: list[str]) -> int:
    chosen = names or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}", file=sys.stderr)
        return 2
    import os

    print(
        f"durabletask-payloads {durabletask_payloads.__version__} against durabletask's built-in "
        f"externalization; Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"gzip engine {_compression.BACKEND}"
    )
    rows: list[Row] = []
    started = time.perf_counter()
    for name in chosen:
        module = importlib.import_module(f"bench_{name}")
        print(f"  running {name} ...", file=sys.stderr, flush=True)
        rows.extend(module.run())
    print()
    print_table(rows)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
