"""Logic written once as a generator of I/O operations, run by a sync or an async runner.

A *flow* is a generator that yields :class:`Op` values (an operation's name and
arguments) and receives each one's result, or has its exception thrown in at the
``yield``, so ``try``/``except`` around a step works as it reads. The flow holds
the decisions; an *I/O object* holds one method per operation name, plain for
:func:`run` and ``async`` for :func:`run_async`. Only those methods are twinned,
in the manner of httpx's auth flows (``_flow.py`` does the same for purge and gc,
with steps of its own).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Flow", "Op", "op", "run", "run_async"]

T = TypeVar("T")


@dataclass(frozen=True)
class Op:
    """One operation of a flow: the I/O object's method *name*, called with *args* and *kwargs*."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


Flow = Generator[Op, Any, T]


def op(name: str, /, *args: Any, **kwargs: Any) -> Op:
    """Make an :class:`Op` of the I/O method *name* with these arguments.

    A flow writes ``yield op("upload_blob", **arguments)``.
    """
    return Op(name, args, kwargs)


class _Done:
    def __init__(self, value: Any) -> None:
        self.value = value


def _advance(flow: Flow[Any], result: Any, error: BaseException | None) -> Op | _Done:
    """Hand the last step's outcome to *flow*; return its next step, or what it returned."""
    try:
        return flow.throw(error) if error is not None else flow.send(result)
    except StopIteration as stop:
        return _Done(stop.value)


def run(flow: Flow[T], io: object) -> T:
    """Run *flow* to its end, calling *io*'s methods for its operations; return what it returns."""
    step = _advance(flow, None, None)
    while isinstance(step, Op):
        try:
            result = getattr(io, step.name)(*step.args, **step.kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the flow, which decides
            step = _advance(flow, None, exc)
        else:
            step = _advance(flow, result, None)
    return step.value  # type: ignore[no-any-return]


async def run_async(flow: Flow[T], io: object) -> T:
    """Async twin of :func:`run`: *io*'s methods are awaited."""
    step = _advance(flow, None, None)
    while isinstance(step, Op):
        try:
            result = await getattr(io, step.name)(*step.args, **step.kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the flow, which decides
            step = _advance(flow, None, exc)
        else:
            step = _advance(flow, result, None)
    return step.value  # type: ignore[no-any-return]
