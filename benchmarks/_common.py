"""Shared pieces of the benchmarks: data, timing, servers and the result table."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

WORDS = [
    "".join(
        random.Random(i).choices(
            ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "gre", "or"], k=1 + i % 4
        )
    )
    for i in range(500)
]
CITIES = ["Lisbon", "Berlin", "Osaka", "Madrid", "Accra", "Montréal", "Kraków", "Shenzhen", "Lima", "Oslo"]
FIRST = ["Ana", "Björn", "Chen", "Dalia", "Émile", "Farah", "Gökhan", "Hana", "Ivo", "Jun", "Kofi", "Lena"]
LAST = ["Silva", "Müller", "Wang", "Haddad", "Dubois", "Khan", "Yılmaz", "Sato", "Novak", "Park", "Mensah"]  # noqa: RUF001


def text_json(approx_bytes: int, seed: int) -> str:
    """One JSON string of about *approx_bytes* of words (fixed seed): cheap to parse, unlike orders."""
    rng = random.Random(seed)
    words: list[str] = []
    size = 0
    while size < approx_bytes:
        word = rng.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return json.dumps(" ".join(words))


def orders_json(approx_bytes: int, seed: int) -> str:
    """Realistic order JSON (names, addresses, SKUs, free text) of about *approx_bytes*, fixed seed."""
    rng = random.Random(seed)
    orders: list[dict[str, Any]] = []
    size = 2
    while size < approx_bytes:
        order = {
            "orderId": f"ORD-{seed:03d}-{len(orders):06d}",
            "customer": {
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "email": f"c{rng.randrange(10**9)}@example.com",
                "address": f"{rng.randrange(1, 999)} {rng.choice(WORDS).title()} St, {rng.choice(CITIES)}",
            },
            "lines": [
                {
                    "sku": f"SKU-{rng.randrange(10**6):06d}",
                    "qty": rng.randrange(1, 9),
                    "price": round(rng.uniform(1, 500), 2),
                    "note": " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 25))),
                }
                for _ in range(rng.randrange(1, 8))
            ],
            "status": rng.choice(["new", "paid", "packed", "shipped"]),
        }
        orders.append(order)
        size += len(json.dumps(order)) + 2
    return json.dumps(orders)


def best_time(fn: Callable[[], object], *, repeat: int = 7, number: int = 1) -> float:
    """Best wall time in seconds of *number* calls, over *repeat* rounds (least disturbed by noise)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    """One line of the result table."""

    case: str
    builtin: float
    ours: float
    unit: str  # "s", "ms", "count", "MB"
    target: str
    met: bool
    note: str = ""
    # The floor: plain durabletask, gRPC limits raised, no store (end-to-end cases only).
    inline: float | None = None

    @property
    def ratio(self) -> float:
        if self.ours == 0:
            return float("inf")
        return self.builtin / self.ours

    def cells(self) -> list[str]:
        return [
            self.case,
            "-" if self.inline is None else _fmt(self.inline, self.unit),
            _fmt(self.builtin, self.unit),
            _fmt(self.ours, self.unit),
            _ratio(self),
            "-" if not self.inline else f"{self.ours / self.inline:,.2f}x",
            self.target,
            "yes" if self.met else "NO",
        ]


def _fmt(value: float, unit: str) -> str:
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value * 1000:,.2f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "MiB":
        return f"{value / 2**20:,.0f} MiB"
    if unit == "MB":
        return f"{value / 1e6:,.1f} MB"
    return f"{value:,.3g} {unit}"


def _ratio(row: Row) -> str:
    ratio = row.ratio
    return "inf" if ratio == float("inf") else f"{ratio:,.1f}x"


def print_table(rows: list[Row]) -> None:
    header = ["case", "inline", "built-in", "ours", "built-in / ours", "ours / inline", "target", "met"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for index, line in enumerate(table):
        print(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
    for row in rows:
        if row.note:
            print(f"  * {row.case}: {row.note}")
