"""Every error this package raises, rooted at :class:`PayloadError`.

```
PayloadError
├── PayloadTooLargeError          a value to write is above max_stored_payload_bytes (also a ValueError)
├── PayloadReadLimitError         a stored object is above this reader's max_read_payload_bytes
├── PayloadNotFoundError          a token names a payload the store does not have
├── PayloadIntegrityError         the stored bytes are not what was written
├── InvalidPayloadTokenError      a token is malformed or points outside what this store may read
│                                 (also a ValueError)
├── PayloadStoreUnavailableError  transient: the store could not be reached, timed out or throttled,
│                                 and retries within the budget did not help; trying later may work
├── PayloadStoreRefusedError      permanent: the store answered and will answer the same again
│   │                             (401/403, a wrong key type, another 4xx): fix the setting
│   └── PayloadStoreClosedError   the store was closed (close()/aclose()): make a new one
└── UnsupportedOperationError     the store cannot do this (delete, list...); also a NotImplementedError
```

Every class has a ``transient`` attribute: True only for
:class:`PayloadStoreUnavailableError`. Transient failures are retried (and, on a
worker, the work item is kept alive for ``outage_budget_seconds``); every other
failure is permanent and fails at once.

Messages name the token, the size, the limit or the setting involved, and never
the payload itself or any credential. The classes report ``durabletask_payloads``
as their module so that failure details recorded in an orchestration history read
``durabletask_payloads.PayloadNotFoundError`` and match
``FailureDetails.is_caused_by(PayloadError)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "InvalidPayloadTokenError",
    "PayloadError",
    "PayloadIntegrityError",
    "PayloadNotFoundError",
    "PayloadReadLimitError",
    "PayloadStoreClosedError",
    "PayloadStoreRefusedError",
    "PayloadStoreUnavailableError",
    "PayloadTooLargeError",
    "UnsupportedOperationError",
    "store_failure",
]

# Tokens come from the backend, i.e. from data: a hostile one could be megabytes long.
_MAX_TOKEN_IN_MESSAGE = 200


def describe_token(token: str) -> str:
    """Quote a token for an error message, shortened when it is unreasonably long."""
    if len(token) <= _MAX_TOKEN_IN_MESSAGE:
        return repr(token)
    return repr(token[:_MAX_TOKEN_IN_MESSAGE]) + f"... ({len(token):,} characters)"


class PayloadError(Exception):
    """Base class of every error raised by durabletask-payloads.

    Attributes:
        transient: Whether trying again later may succeed. False but for
            :class:`PayloadStoreUnavailableError`.

    """

    transient: bool = False
    # The constructor's parameters, which every subclass keeps as attributes of the same names:
    # pickling rebuilds the error from them (by keyword), so it crosses process boundaries intact.
    _pickled: ClassVar[tuple[str, ...]] = ()

    def __reduce__(self) -> str | tuple[Any, ...]:
        if not self._pickled:
            return super().__reduce__()
        return (_rebuild, (type(self), {name: getattr(self, name) for name in self._pickled}))


def _rebuild(cls: type[PayloadError], arguments: dict[str, Any]) -> PayloadError:
    return cls(**arguments)


class PayloadTooLargeError(PayloadError, ValueError):
    """A payload to write is larger than the store accepts.

    It is also a :class:`ValueError`, as durabletask's built-in store raises one
    for an oversized payload: code written for it keeps catching ours.

    Attributes:
        size: The payload's size in bytes (UTF-8, before compression).
        limit: The largest size allowed, in bytes.
        setting: The option that sets ``limit``.

    """

    _pickled = ("size", "limit", "setting")

    def __init__(self, size: int, limit: int, *, setting: str = "max_stored_payload_bytes") -> None:
        self.size = size
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"Payload of {size:,} bytes exceeds the limit of {limit:,} bytes "
            f"(LargePayloadStorageOptions.{setting}). Send less data, or raise "
            f"{setting} on the payload store's options."
        )


class PayloadReadLimitError(PayloadError):
    """A stored payload is larger than this reader accepts (refused before it is read whole).

    The writer may have a higher limit than this reader (a .NET worker with a
    raised ``MaxPayloadBytes``): raise ``max_read_payload_bytes`` to read it.

    Attributes:
        token: The token whose payload was refused.
        size: The stored or inflated size in bytes, as far as it is known.
        limit: This reader's limit in bytes.
        setting: The option that sets ``limit``.

    """

    _pickled = ("token", "size", "limit", "setting")

    def __init__(self, token: str, size: int, limit: int, *, setting: str = "max_read_payload_bytes") -> None:
        self.token = token
        self.size = size
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"Stored payload for token {describe_token(token)} is {size:,} bytes or more, above this "
            f"reader's limit of {limit:,} bytes (LargePayloadStorageOptions.{setting}). If its writer "
            f"allows larger payloads, raise {setting} on this store's options."
        )


class PayloadNotFoundError(PayloadError):
    """A token refers to a payload that the store does not hold (deleted or never written).

    Attributes:
        token: The token that could not be resolved.

    """

    _pickled = ("token", "detail")

    def __init__(self, token: str, detail: str = "") -> None:
        self.token = token
        self.detail = detail
        text = f"No stored payload for token {describe_token(token)}"
        text += f" ({detail})" if detail else ""
        text += (
            ". It was deleted (purge, retention or lifecycle policy) or written to another store; "
            "the data it referenced cannot be recovered from the token."
        )
        super().__init__(text)


class PayloadIntegrityError(PayloadError):
    """The bytes read for a token are not the bytes that were stored.

    Attributes:
        token: The token whose payload failed the check.
        reason: What did not match.

    """

    _pickled = ("token", "reason")

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(
            f"Stored payload for token {describe_token(token)} failed its integrity check: {reason}. "
            "The stored object was modified or corrupted; it is not used."
        )


class InvalidPayloadTokenError(PayloadError, ValueError):
    """A token is malformed, or names a location this store is not allowed to read.

    Attributes:
        token: The offending token.
        reason: Why it was refused.

    """

    _pickled = ("token", "reason")

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(f"Refused payload token {describe_token(token)}: {reason}")


class PayloadStoreUnavailableError(PayloadError):
    """A transient store failure: it could not be reached, timed out or throttled, and retries did not help.

    Trying again later may succeed. The stores have already retried within
    their per-request budget (``retry_total``, ``request_timeout_seconds``); a
    worker keeps the work item alive for ``outage_budget_seconds`` more.

    Attributes:
        operation: ``"upload"``, ``"download"``, ``"delete"``...
        target: The token or location involved.
        detail: What failed: an HTTP status and error code, or the kind of failure.
        transient: Always True (kept as an attribute for older callers).

    """

    _pickled = ("operation", "target", "detail")

    def __init__(self, operation: str, target: str, detail: str, *, transient: bool = True) -> None:
        self.operation = operation
        self.target = target
        self.detail = detail
        # An old caller may still pass transient=False: the class says what the failure is.
        self.transient = True
        super().__init__(
            f"Payload store {operation} of {describe_token(target)} failed: {detail}. "
            "The store could not be reached or was busy. Check that it is reachable; retry settings "
            "(retry_total, request_timeout_seconds, outage_budget_seconds) are on the store's options."
        )


class PayloadStoreRefusedError(PayloadError):
    """A permanent store failure: the store answered, and will answer the same if asked again.

    Authentication and authorization failures (HTTP 401/403), a key of the wrong
    type, a request the store rejects (another 4xx). Fix the setting it names:
    retrying does not help.

    Attributes:
        operation: ``"upload"``, ``"download"``, ``"delete"``...
        target: The token or location involved.
        detail: What failed: an HTTP status and error code, or the kind of failure.

    """

    _pickled = ("operation", "target", "detail")

    def __init__(self, operation: str, target: str, detail: str) -> None:
        self.operation = operation
        self.target = target
        self.detail = detail
        super().__init__(
            f"Payload store {operation} of {describe_token(target)} was refused: {detail}. "
            "This does not change on retry: check the store's credentials, permissions and settings."
        )


class PayloadStoreClosedError(PayloadStoreRefusedError):
    """The store was used after :meth:`~durabletask_payloads.PayloadStore.close` (or ``aclose``).

    Permanent: a closed store's connections are gone and it does not reopen
    them. Create a new store, or close this one only after its last use (when
    the worker or client that holds it stops).

    Attributes:
        store: The store's class name.
        operation: ``"upload"``, ``"download"``, ``"delete"``...
        target: The token or location involved.

    """

    _pickled = ("store", "operation", "target")

    def __init__(self, store: str, operation: str, target: str) -> None:
        self.store = store
        PayloadError.__init__(
            self,
            f"Payload store {operation} of {describe_token(target)} failed: this {store} was closed, "
            "and a closed store does not reopen. Create a new store, or close it only after its last use.",
        )
        self.operation = operation
        self.target = target
        self.detail = f"the {store} was closed"


class UnsupportedOperationError(PayloadError, NotImplementedError):
    """The store cannot do this (delete, inspect, list...); also a :class:`NotImplementedError`.

    Attributes:
        store: The store's class name.
        operation: What was asked of it.

    """

    _pickled = ("store", "operation")

    def __init__(self, store: str, operation: str) -> None:
        self.store = store
        self.operation = operation
        super().__init__(f"{store} does not support {operation}")


def store_failure(operation: str, target: str, detail: str, *, transient: bool) -> PayloadError:
    """Return the error for a store failure: unavailable if *transient*, else refused."""
    if transient:
        return PayloadStoreUnavailableError(operation, target, detail)
    return PayloadStoreRefusedError(operation, target, detail)


for _cls in (
    PayloadError,
    PayloadTooLargeError,
    PayloadNotFoundError,
    PayloadIntegrityError,
    InvalidPayloadTokenError,
    PayloadReadLimitError,
    PayloadStoreUnavailableError,
    PayloadStoreRefusedError,
    PayloadStoreClosedError,
    UnsupportedOperationError,
):
    _cls.__module__ = "durabletask_payloads"
