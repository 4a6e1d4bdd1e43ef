"""The cross-SDK wire contract, vendored verbatim from ../shared/interop/ (see test_vendored_copy)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
VECTORS = HERE / "vectors.json"


@cache
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return data
