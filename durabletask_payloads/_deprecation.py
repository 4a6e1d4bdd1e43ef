"""Old names kept working after a rename: each use warns once per call site, then does the same thing."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["deprecated_module_attribute", "renamed_fields", "warn_renamed"]

_C = TypeVar("_C", bound=type)


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

    def __getattr__(name: str) -> Any:  # noqa: N807 - it becomes the module's __getattr__
        entry = renames.get(name)
        if entry is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, resolve = entry
        # stacklevel 3: warn_renamed, this function, then the line that named the old attribute.
        warn_renamed(f"{module}.{name}", new)
        return resolve()

    return __getattr__


def renamed_fields(**renames: str) -> Callable[[_C], _C]:
    """Class decorator: accept each old field name (``old="new"``) in the constructor and read it back.

    Put it above ``@dataclass``. ``Options(old=1)`` warns and sets ``new``;
    ``options.old`` warns and returns ``new``. Giving both names with
    different values is a :class:`TypeError` (which one was meant?), and so is
    :func:`dataclasses.replace` with an old name on options whose new field
    differs: replace with the new name instead. The old names are not
    dataclass fields, so ``repr()``, equality and ``replace`` see only the new ones.
    """

    def decorate(cls: _C) -> _C:
        init = cls.__init__  # type: ignore[misc]

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - replaces the class's
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                warn_renamed(f"{cls.__name__}({old}=...)", f"{new}=")
                value = kwargs.pop(old)
                if new in kwargs and kwargs[new] != value:
                    raise TypeError(
                        f"{cls.__name__}: give {new} or its deprecated name {old}, not both "
                        f"(dataclasses.replace: replace {new})"
                    )
                kwargs[new] = value
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        for old, new in renames.items():
            setattr(cls, old, _alias(cls.__name__, old, new))
        return cls

    return decorate


def _alias(owner: str, old: str, new: str) -> property:
    def get(self: Any) -> Any:
        warn_renamed(f"{owner}.{old}", f"{owner}.{new}", stacklevel=3)
        return getattr(self, new)

    return property(get, doc=f"Deprecated: the old name of :attr:`{new}`.")
