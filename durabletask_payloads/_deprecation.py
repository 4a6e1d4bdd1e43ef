"""Old names kept working after a rename: each use warns once per call site, then does the same thing."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["deprecated_module_attribute", "warn_renamed"]


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emit the :class:`DeprecationWarning` for a use of *old*, naming its replacement *new*.

    The default *stacklevel* points at the caller of the function that calls this one.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in a future release; use {new} instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def deprecated_module_attribute(
    module: str, renames: Mapping[str, tuple[str, Callable[[], Any]]]
) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` serving each old name of *renames* with a warning.

    Args:
        module: The module's dotted name, for the messages.
        renames: Old name -> (new qualified name, a function returning the object).

    """

    def __getattr__(name: str) -> Any:
        entry = renames.get(name)
        if entry is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, resolve = entry
        # stacklevel 3: warn_renamed, this function, then the line that named the old attribute.
        warn_renamed(f"{module}.{name}", new)
        return resolve()

    return __getattr__
