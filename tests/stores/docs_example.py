"""The SQLite driver of docs/stores.md ("Writing your own store"), loaded from the page itself.

Tests run the code as printed, so the page cannot drift from what is tested.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "stores.md"


def example_blocks() -> list[str]:
    """The Python blocks of the section: the driver, then its round trip."""
    section = DOC.read_text(encoding="utf-8").split("## Writing your own store", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@functools.cache
def sqlite_driver() -> Any:
    """The ``SQLiteDriver`` class defined by the page's first block."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(example_blocks()[0], str(DOC), "exec"), namespace)  # our own docs page
    return namespace["SQLiteDriver"]
