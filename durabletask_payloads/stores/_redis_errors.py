"""How the Redis store names and classifies Redis errors (without quoting their messages, which hold data)."""

from __future__ import annotations

import re

from redis.exceptions import AuthenticationError, AuthorizationError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._exceptions import PayloadError, store_failure

__all__ = ["failure"]

# A Redis error reply starts with an upper-case code (OOM, WRONGTYPE, NOAUTH ...); the rest may quote data.
_ERROR_CODE_RE = re.compile(r"[A-Z][A-Z_]{1,30}\b")


def _describe(exc: RedisError) -> str:
    """Name the error by its type and, for a server reply, its code: never by its message."""
    if isinstance(exc, ResponseError):
        # A pipeline's error says which command failed first ("Command # 1 (...) of pipeline caused
        # error: WRONGTYPE ..."): the code follows that.
        text = str(exc)
        if text.startswith("Command # "):
            text = text.partition(" caused error: ")[2]
        match = _ERROR_CODE_RE.match(text)
        if match:
            return f"{type(exc).__name__} {match.group(0)}"
    return type(exc).__name__


def failure(exc: RedisError, operation: str, target: str) -> PayloadError:
    """Classify a Redis error: transient (retried) or permanent (raised at once), named by its code."""
    # Connection failures and timeouts may pass; wrong credentials and error replies will not.
    transient = isinstance(exc, (RedisConnectionError, RedisTimeoutError)) and not isinstance(
        exc, (AuthenticationError, AuthorizationError)
    )
    return store_failure(operation, target, _describe(exc), transient=transient)
