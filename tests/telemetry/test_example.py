"""examples/tracing/app.py runs, and the trace it prints has payload spans under activity spans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = "durabletask_payloads."


def _tree(output: str) -> list[tuple[int, str]]:
    """The drawn trace as (depth, span name) pairs: depth is where the name starts."""
    lines = output.split("the trace:\n", 1)[1].split("\npayload metrics", 1)[0].splitlines()
    tree = []
    for line in lines:
        stripped = line.lstrip(" │├└─")
        if stripped:
            tree.append((len(line) - len(stripped), stripped.split()[0]))
    return tree


def _children(tree: list[tuple[int, str]], index: int) -> list[str]:
    """Names of the spans drawn directly under the span at *index*."""
    depth = tree[index][0]
    names = []
    for child_depth, name in tree[index + 1 :]:
        if child_depth <= depth:
            break
        if child_depth == depth + 3:
            names.append(name)
    return names


def test_the_example_prints_payload_spans_under_activity_spans() -> None:
    """Run as a user would; the activity that gets the batch resolves it and uploads its result under it."""
    # The checkout's package, not whichever one is installed in the environment.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "examples/tracing/app.py", "--orders", "40"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout
    assert "[span] durabletask_payloads.upload" in output  # the console exporter printed spans
    tree = _tree(output)
    validating = [
        index
        for index, (_, name) in enumerate(tree)
        if name == "activity:validate_orders" and _children(tree, index)
    ]
    assert len(validating) == 1, output
    children = _children(tree, validating[0])
    assert children == [
        f"{PAYLOAD}resolve",
        "activity:validate_orders",
        f"{PAYLOAD}externalize",
    ], output
    assert "durabletask_payloads.uploads ({payload})" in output
