"""A bounded record of tokens a store moved lately, for :class:`~._cache.PayloadCache`.

A write of a payload the store moved recently is, most often, a replay sending
the same value again: a driver that can confirm cheaply (a HEAD, an ``EXISTS``,
a stat) is then asked only whether the object is still there. The payloads
themselves leave the cache under memory pressure, and are put there only by the
batch methods of whichever store the caller holds (under
:class:`~durabletask_payloads.RoutingPayloadStore`, the router's, not the inner
stores'); a token costs a hundred bytes, and the pipeline records it on every
transfer. Names only: a token always means the same bytes, so nothing goes stale,
and the confirmation itself asks the backend.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["RecentTokens"]

#: Tokens remembered per store: a few MB at most, and more than a worker's busy histories hold.
DEFAULT_CAPACITY = 8192


class RecentTokens:
    """A bounded, thread-safe set of tokens, the least recently added dropped first.

    Args:
        capacity: How many tokens are kept.

    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._tokens: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, token: object) -> bool:
        return token in self._tokens

    def __len__(self) -> int:
        return len(self._tokens)

    def add(self, token: str) -> None:
        """Remember *token* as moved just now."""
        with self._lock:
            self._tokens[token] = None
            self._tokens.move_to_end(token)
            while len(self._tokens) > self._capacity:
                self._tokens.popitem(last=False)

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()

    def discard(self, token: str) -> None:
        """Forget *token* (its payload was deleted)."""
        with self._lock:
            self._tokens.pop(token, None)
