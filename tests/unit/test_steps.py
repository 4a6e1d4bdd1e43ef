"""Flows written once and run by the sync and the async runner alike (durabletask_payloads/_steps.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durabletask_payloads._steps import Flow, op, run, run_async


class RefusedError(Exception):
    pass


class SyncIO:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def put(self, key: str, *, name: str) -> str:
        self.calls.append(("put", (key, name)))
        if key == "taken":
            raise RefusedError(key)
        return f"stored {key} as {name}"


class AsyncIO:
    def __init__(self) -> None:
        self.sync = SyncIO()

    async def put(self, key: str, *, name: str) -> str:
        await asyncio.sleep(0)
        return self.sync.put(key, name=name)


def put_or_fallback(key: str) -> Flow[list[str]]:
    """An exception thrown in at the yield is caught where the flow says, as it reads."""
    results = []
    try:
        results.append((yield op("put", key, name="first")))
    except RefusedError:
        results.append((yield op("put", "fallback", name="second")))
    return results


def test_both_runners_give_the_same_result_and_make_the_same_calls() -> None:
    sync = SyncIO()
    assert run(put_or_fallback("taken"), sync) == ["stored fallback as second"]
    aio = AsyncIO()
    assert asyncio.run(run_async(put_or_fallback("taken"), aio)) == ["stored fallback as second"]
    assert sync.calls == aio.sync.calls == [("put", ("taken", "first")), ("put", ("fallback", "second"))]


def test_an_exception_the_flow_does_not_catch_reaches_the_caller() -> None:
    def strict() -> Flow[str]:
        return (yield op("put", "taken", name="only"))  # type: ignore[no-any-return]

    with pytest.raises(RefusedError):
        run(strict(), SyncIO())
    with pytest.raises(RefusedError):
        asyncio.run(run_async(strict(), AsyncIO()))


def test_an_operation_may_take_a_keyword_called_name() -> None:
    """op's own first parameter is positional-only: the Blob SDK's ``name=`` passes through."""
    step = op("upload_blob", name="abc", data=b"x")
    assert step.name == "upload_blob"
    assert step.kwargs == {"name": "abc", "data": b"x"}
