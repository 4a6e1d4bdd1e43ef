"""Size and compression settings shared by every payload store."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from durabletask.payload import store as _upstream

from ._token import key_prefix_problem

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MAX_THRESHOLD_BYTES",
    "MAX_TIMEOUT_SECONDS",
    "LargePayloadStorageOptions",
    "RemoteStoreOptions",
    "check_aes256_key",
    "check_bool",
    "check_key_prefix",
    "check_optional_str",
    "check_retry_total",
    "check_seconds",
    "check_timeouts",
    "check_type",
    "outage_budget",
    "read_limit",
    "type_error",
]

#: The .NET SDK refuses a threshold above 1 MiB; so do we, to stay interchangeable.
MAX_THRESHOLD_BYTES = 1024 * 1024
#: A protobuf string (and so any gRPC value) is below 2 GiB: no payload can be larger.
MAX_PAYLOAD_BYTES = 2**31 - 1
_DEFAULT_OUTAGE_BUDGET = 300.0


#: The longest connect or read timeout of a store: sockets and obstore's durations cannot hold much more.
MAX_TIMEOUT_SECONDS = 86_400.0


def type_error(name: str, expected: str, value: object) -> TypeError:
    """Return the :class:`TypeError` for field *name*, naming the type given, never the value (a secret?)."""
    return TypeError(f"{name} must be {expected}, got {type(value).__name__}")


def check_type(name: str, value: object, types: type | tuple[type, ...], expected: str) -> None:
    """Raise :func:`type_error` unless *value* is one of *types* (``bool`` never counts as ``int``)."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise type_error(name, expected, value)
    if not isinstance(value, types):
        raise type_error(name, expected, value)


def check_optional_str(options: object, *names: str) -> None:
    """Refuse each field of *options* in *names* unless it is None or a string."""
    for name in names:
        value = getattr(options, name)
        if value is not None:
            check_type(name, value, str, "a string or None")


def check_bool(name: str, value: object) -> None:
    """Refuse *value* unless it is True or False (``1`` and ``"yes"`` are mistakes, not flags)."""
    check_type(name, value, bool, "True or False (a bool)")


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; True as a byte count is always a mistake.
    check_type(name, value, int, "an int (a number of bytes)")
    assert isinstance(value, int)
    return value


def check_retry_total(value: object) -> None:
    """Refuse a store's ``retry_total`` unless it is an integer from 0 to 20."""
    check_type("retry_total", value, int, "an int")
    assert isinstance(value, int)
    if not 0 <= value <= 20:
        raise ValueError(f"retry_total must be an integer from 0 to 20, got {value!r}")


def check_key_prefix(value: object) -> None:
    """Refuse a store's ``key_prefix`` unless a content name can follow it (see ``key_prefix_problem``)."""
    check_type("key_prefix", value, str, "a string")
    assert isinstance(value, str)
    problem = key_prefix_problem(value)
    if problem is not None:
        raise ValueError(f"key_prefix {value!r} cannot be used: {problem}")


def check_seconds(options: object, *names: str) -> None:
    """Refuse each field of *options* in *names* unless it is a positive, finite number of seconds."""
    for name in names:
        value = getattr(options, name)
        check_type(name, value, (int, float), "a number of seconds (int or float)")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds (finite), got {value!r}")


def check_timeouts(options: object, *names: str) -> None:
    """Refuse each timeout of *options* in *names* unless it is from just above 0 to one day."""
    check_seconds(options, *names)
    for name in names:
        value = getattr(options, name)
        if value > MAX_TIMEOUT_SECONDS:
            raise ValueError(f"{name} must be at most {MAX_TIMEOUT_SECONDS:,.0f} s (one day), got {value!r}")


def check_aes256_key(name: str, value: str) -> None:
    """Refuse a customer-provided encryption key that is not 32 bytes, base64-encoded (SSE-C, CPK).

    The key is a secret: the error names the setting, never the value.
    """
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{name} must be a 256-bit (32-byte) AES key, base64-encoded")


def read_limit(options: object) -> int:
    """Return the largest stored payload a store with *options* reads, in bytes (inflated size).

    ``max_read_payload_bytes`` when set, else ``max_stored_payload_bytes``;
    works for durabletask's own options class too.
    """
    value = getattr(options, "max_read_payload_bytes", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(getattr(options, "max_stored_payload_bytes", 10 * 1024 * 1024))


def outage_budget(options: object) -> float:
    """Return how long a worker keeps a work item alive through transient store failures (seconds)."""
    value = getattr(options, "outage_budget_seconds", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return _DEFAULT_OUTAGE_BUDGET


@dataclass(eq=True)
class LargePayloadStorageOptions(_upstream.LargePayloadStorageOptions):
    """When a value is externalized, how large it may be, and how it is stored.

    Checked when built: a value of the wrong type raises :class:`TypeError`
    naming the field, the expected type and the type given; a value out of
    range raises :class:`ValueError` naming the field and the allowed range.
    Instances are read-only afterwards; derive a changed copy with
    :func:`dataclasses.replace`, which checks again.

    It subclasses ``durabletask.payload.LargePayloadStorageOptions`` so that a
    store of this package is also accepted where durabletask's own type is
    expected.

    Attributes:
        threshold_bytes: A value whose UTF-8 size is at or above this many bytes is
            externalized (the .NET rule). 1 to 1,048,576 (1 MiB); default 262,144.
        max_stored_payload_bytes: The largest value, in UTF-8 bytes before
            compression, that may be stored. At least ``threshold_bytes``;
            default 10 MiB. A larger value is refused with
            :class:`~durabletask_payloads.PayloadTooLargeError`.
        enable_compression: Gzip stored payloads (the default, as in .NET). The
            stored object says whether it is compressed, so readers never depend
            on this setting.
        max_concurrency: How many uploads or downloads of one message run at
            once (threads for the sync API, tasks for the async one); also
            how many async transfers a store runs at once per event loop,
            separate calls included, and how many threads a sync worker
            resolves work items on. 1 to 256; default 32.
        cache_max_bytes: Memory for payloads already uploaded or downloaded,
            so that replays and repeated values are not fetched again: a
            quarter holds recent payloads as they are, the rest older ones
            deflated. 0 disables it; default 64 MiB. Safe because a token
            always names the same bytes.
        max_read_payload_bytes: The largest stored payload this store reads
            (its inflated size, UTF-8 bytes). None (the default) means
            ``max_stored_payload_bytes``. Set it higher to read what writers with
            a higher limit stored (a .NET worker with a raised ``MaxPayloadBytes``);
            a larger object is refused with
            :class:`~durabletask_payloads.PayloadReadLimitError` before it is read whole.
        outage_budget_seconds: How long a worker keeps a work item alive while
            the store fails transiently (cannot be reached, times out, throttles):
            its transfers are retried with capped exponential backoff for this
            long, then the work item fails (non-retriable) with a message naming
            the outage. Default 300.

    """

    threshold_bytes: int = 262_144
    max_stored_payload_bytes: int = 10 * 1024 * 1024
    enable_compression: bool = True
    max_concurrency: int = 32
    cache_max_bytes: int = 64 * 1024 * 1024
    max_read_payload_bytes: int | None = None
    outage_budget_seconds: float = _DEFAULT_OUTAGE_BUDGET

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "_frozen", True)

    def _validate(self) -> None:
        """Check every field; subclasses extend this (and may normalise fields) before the freeze."""
        threshold = _check_int("threshold_bytes", self.threshold_bytes)
        if not 1 <= threshold <= MAX_THRESHOLD_BYTES:
            raise ValueError(
                f"threshold_bytes must be between 1 and {MAX_THRESHOLD_BYTES:,} (1 MiB), got {threshold:,}"
            )
        maximum = _check_int("max_stored_payload_bytes", self.max_stored_payload_bytes)
        if maximum < threshold:
            raise ValueError(
                f"max_stored_payload_bytes must be at least threshold_bytes ({threshold:,}), got {maximum:,}"
            )
        if maximum > MAX_PAYLOAD_BYTES:
            raise ValueError(
                f"max_stored_payload_bytes must be at most {MAX_PAYLOAD_BYTES:,} (a protobuf string is "
                f"below 2 GiB), got {maximum:,}"
            )
        if self.max_read_payload_bytes is not None:
            reading = _check_int("max_read_payload_bytes", self.max_read_payload_bytes)
            if not maximum <= reading <= MAX_PAYLOAD_BYTES:
                raise ValueError(
                    f"max_read_payload_bytes must be None or from max_stored_payload_bytes ({maximum:,}) "
                    f"to {MAX_PAYLOAD_BYTES:,}, got {reading:,}"
                )
        check_seconds(self, "outage_budget_seconds")
        check_bool("enable_compression", self.enable_compression)
        concurrency = _check_int("max_concurrency", self.max_concurrency)
        if not 1 <= concurrency <= 256:
            raise ValueError(f"max_concurrency must be between 1 and 256, got {concurrency}")
        if _check_int("cache_max_bytes", self.cache_max_bytes) < 0:
            raise ValueError(f"cache_max_bytes must be 0 (no cache) or more, got {self.cache_max_bytes:,}")

    def __setattr__(self, name: str, value: Any) -> None:
        # Stores derive state from their options once; a later change would be
        # silently ignored, so refuse it instead.
        if getattr(self, "_frozen", False):
            raise dataclasses.FrozenInstanceError(
                f"cannot assign to field {name!r}: options are read-only; use dataclasses.replace()"
            )
        object.__setattr__(self, name, value)


@dataclass(eq=True)
class RemoteStoreOptions(LargePayloadStorageOptions):
    """The settings of :class:`LargePayloadStorageOptions`, plus retries, for stores behind a network.

    Which failures are retried is the same for every store: a connection
    failure, a timeout, HTTP 408, 429, 500, 502, 503 or 504 (see docs/stores.md,
    Retries); other failures are raised at once.

    Attributes:
        retry_total: Retries of a transient failure within one request. Default 5.
        retry_backoff_seconds: The wait before the first retry; each next wait
            doubles, up to 8 s, and is drawn between half and all of that. With
            the defaults at most 0.5, 1, 2, 4 and 8 s (15.5 s of waiting in all).
        request_timeout_seconds: The deadline of one request, all its attempts
            and waits included: no retry starts after it. Each attempt is also
            bounded by the store's connect and read timeouts. Default 120.

    """

    retry_total: int = 5
    retry_backoff_seconds: float = 0.5
    request_timeout_seconds: float = 120.0

    def _validate(self) -> None:
        super()._validate()
        check_retry_total(self.retry_total)
        check_seconds(self, "retry_backoff_seconds", "request_timeout_seconds")
