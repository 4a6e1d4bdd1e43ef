"""A bounded, thread-safe cache of resolved payloads, keyed by token.

A token always means the same bytes: names are derived from the content (and
the instance), and a name is written only if absent. So a cached payload never
goes stale; the cache only saves transfers, above all on replays, where a worker
would otherwise fetch an orchestration's whole history again for every step.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["PayloadCache"]


class PayloadCache:
    """Least-recently-used payloads, up to *max_bytes* in total.

    Args:
        max_bytes: Capacity in bytes of payload; 0 disables the cache. A payload
            larger than half the capacity is not cached, so one huge value cannot
            flush everything else.

    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """Bytes currently held."""
        return self._size

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: object) -> bool:
        return token in self._entries

    def get(self, token: str) -> bytes | None:
        """Return the cached payload for *token*, or None."""
        with self._lock:
            data = self._entries.get(token)
            if data is None:
                self.misses += 1
                return None
            self._entries.move_to_end(token)
            self.hits += 1
            return data

    def put(self, token: str, data: bytes) -> None:
        """Remember *data* for *token*, evicting the least recently used payloads as needed."""
        if len(data) > self._max_bytes // 2:
            return
        with self._lock:
            old = self._entries.pop(token, None)
            if old is not None:
                self._size -= len(old)
            self._entries[token] = data
            self._size += len(data)
            while self._size > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted)

    def discard(self, token: str) -> None:
        """Forget *token* (its payload was deleted)."""
        with self._lock:
            old = self._entries.pop(token, None)
            if old is not None:
                self._size -= len(old)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._size = 0
