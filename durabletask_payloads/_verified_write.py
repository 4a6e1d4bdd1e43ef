"""Writing a payload whose name may already be taken: "already there" counts only once verified.

Names certify content, so an object already at a payload's name is that
payload, unless it was planted or damaged: it is read back and verified, and
replaced if it is not a good copy, on the condition that it is still the object
that was checked.

The rule is written once, as a generator (:func:`verified_write`) that yields
the I/O it needs (:class:`Create`, :class:`Read`, :class:`Replace`) and is sent
the results; the driver pipeline (``_pipeline.py``) drives it with driver calls,
the same for sync and async.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from ._exceptions import PayloadIntegrityError, PayloadReadLimitError

__all__ = [
    "CREATED",
    "FOUND",
    "REPLACED",
    "Create",
    "Existing",
    "Read",
    "Replace",
    "WriteStep",
    "verified_write",
]

#: What a verified write did: wrote the object, found it already there, or replaced another.
CREATED = "created"
FOUND = "found"
REPLACED = "replaced"
# Rounds of "check what is there, replace it if it is not this payload" before a write gives up.
_REPLACE_ATTEMPTS = 3


class _Payload(Protocol):
    # Only the content is compared; a Protocol keeps this module free of _codec (no cycle).
    @property
    def data(self) -> bytes: ...


@dataclass(frozen=True)
class Existing:
    """What a write found at its payload's name.

    Attributes:
        tag: What a conditional replace is made on: an ETag, or whatever
            stands for one in the store (it is handed back to ``replace``).
        decode: Returns the object's payload as a download would, verified;
            raises :class:`PayloadIntegrityError` or :class:`PayloadReadLimitError`
            when it is not a good copy.

    """

    tag: object
    decode: Callable[[], bytes]


@dataclass(frozen=True)
class Create:
    """Step: write the object only if the name is free; send back whether it was written."""


@dataclass(frozen=True)
class Read:
    """Step: send back what is at the name now (an :class:`Existing`), or None."""


@dataclass(frozen=True)
class Replace:
    """Step: write over the object with *tag* (None: only if the name is free); send back whether it did."""

    tag: object


WriteStep = Create | Read | Replace


def _verified(existing: Existing | None, encoded: _Payload) -> bool:
    if existing is None:
        return False
    try:
        data = existing.decode()
    except (PayloadIntegrityError, PayloadReadLimitError):
        return False
    return data == encoded.data


def verified_write(encoded: _Payload, token: str) -> Generator[WriteStep, object, str]:
    """Yield the steps of one verified write; return :data:`CREATED`, :data:`FOUND` or :data:`REPLACED`.

    Raises:
        PayloadIntegrityError: Other objects kept appearing at the name.

    """
    if (yield Create()):
        return CREATED
    for _ in range(_REPLACE_ATTEMPTS):
        existing = yield Read()
        if _verified(existing if isinstance(existing, Existing) else None, encoded):
            return FOUND
        if (yield Replace(None if not isinstance(existing, Existing) else existing.tag)):
            return REPLACED
    raise PayloadIntegrityError(
        token, "other objects kept appearing under its name while it was written, so it could not be stored"
    )
