"""Every error this package raises, rooted at :class:`PayloadError`.

```
PayloadError
├── PayloadTooLargeError         a value is above max_stored_payload_bytes
├── PayloadNotFoundError         a token names a payload the store does not have
├── PayloadIntegrityError        the stored bytes are not what was written
├── InvalidPayloadTokenError     a token is malformed or points outside what this store may read
└── PayloadStoreUnavailableError the store could not be reached, retries exhausted
```

Messages name the token, the size, the limit or the setting involved, and never
the payload itself or any credential. The classes report ``durabletask_payloads``
as their module so that failure details recorded in an orchestration history read
``durabletask_payloads.PayloadNotFoundError`` and match
``FailureDetails.is_caused_by(PayloadError)``.
"""

from __future__ import annotations

__all__ = [
    "InvalidPayloadTokenError",
    "PayloadError",
    "PayloadIntegrityError",
    "PayloadNotFoundError",
    "PayloadStoreUnavailableError",
    "PayloadTooLargeError",
]

# Tokens come from the backend, i.e. from data: a hostile one could be megabytes long.
_MAX_TOKEN_IN_MESSAGE = 200


def describe_token(token: str) -> str:
    """Quote a token for an error message, shortened when it is unreasonably long."""
    if len(token) <= _MAX_TOKEN_IN_MESSAGE:
        return repr(token)
    return repr(token[:_MAX_TOKEN_IN_MESSAGE]) + f"... ({len(token):,} characters)"


class PayloadError(Exception):
    """Base class of every error raised by durabletask-payloads."""


class PayloadTooLargeError(PayloadError):
    """A payload is larger than the store accepts.

    Attributes:
        size: The payload's size in bytes (UTF-8, before compression).
        limit: The largest size allowed, in bytes.
        setting: The option that sets ``limit``.

    """

    def __init__(self, size: int, limit: int, *, setting: str = "max_stored_payload_bytes") -> None:
        self.size = size
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"Payload of {size:,} bytes exceeds the limit of {limit:,} bytes "
            f"(LargePayloadStorageOptions.{setting}). Send less data, or raise "
            f"{setting} on the payload store's options."
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_too_large, (self.size, self.limit, self.setting))


def _rebuild_too_large(size: int, limit: int, setting: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(size, limit, setting=setting)


class PayloadNotFoundError(PayloadError):
    """A token refers to a payload that the store does not hold (deleted or never written).

    Attributes:
        token: The token that could not be resolved.

    """

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

    def __reduce__(self) -> tuple[object, ...]:
        return (PayloadNotFoundError, (self.token, self.detail))


class PayloadIntegrityError(PayloadError):
    """The bytes read for a token are not the bytes that were stored.

    Attributes:
        token: The token whose payload failed the check.
        reason: What did not match.

    """

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(
            f"Stored payload for token {describe_token(token)} failed its integrity check: {reason}. "
            "The stored object was modified or corrupted; it is not used."
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (PayloadIntegrityError, (self.token, self.reason))


class InvalidPayloadTokenError(PayloadError, ValueError):
    """A token is malformed, or names a location this store is not allowed to read.

    Attributes:
        token: The offending token.
        reason: Why it was refused.

    """

    def __init__(self, token: str, reason: str) -> None:
        self.token = token
        self.reason = reason
        super().__init__(f"Refused payload token {describe_token(token)}: {reason}")

    def __reduce__(self) -> tuple[object, ...]:
        return (InvalidPayloadTokenError, (self.token, self.reason))


class PayloadStoreUnavailableError(PayloadError):
    """The store could not be reached or failed, and retrying did not help.

    Attributes:
        operation: ``"upload"``, ``"download"``, ``"delete"``...
        target: The token or location involved.
        detail: What failed: an HTTP status and error code, or the kind of failure.
        transient: Whether trying again later may succeed (connection failures,
            timeouts, HTTP 408/429/5xx); the stores have already retried those.

    """

    def __init__(self, operation: str, target: str, detail: str, *, transient: bool = True) -> None:
        self.operation = operation
        self.target = target
        self.detail = detail
        self.transient = transient
        super().__init__(
            f"Payload store {operation} of {describe_token(target)} failed: {detail}. "
            "Check that the store is reachable and the credentials are valid; "
            "retry settings are on the store's options."
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_unavailable, (self.operation, self.target, self.detail, self.transient))


def _rebuild_unavailable(
    operation: str, target: str, detail: str, transient: bool
) -> PayloadStoreUnavailableError:
    return PayloadStoreUnavailableError(operation, target, detail, transient=transient)


for _cls in (
    PayloadError,
    PayloadTooLargeError,
    PayloadNotFoundError,
    PayloadIntegrityError,
    InvalidPayloadTokenError,
    PayloadStoreUnavailableError,
):
    _cls.__module__ = "durabletask_payloads"
