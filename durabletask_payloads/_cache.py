"""A bounded, thread-safe cache of resolved payloads, keyed by token.

A token always means the same bytes: names are derived from the content (and
the instance), and a name is written only if absent. So a cached payload never
goes stale; the cache only saves transfers, above all on replays, where a worker
would otherwise fetch an orchestration's whole history again for every step.

Two tiers share the capacity. New payloads are kept as they are in the hot
tier, a quarter of the capacity. When it is full, the least recently used of
them is deflated (level 1 of
the engine of ``_compression``) into the cold tier, and when the whole is full the
least recently used cold payload is dropped. Workflow JSON deflates
to a fifth to a third, so at load the same memory holds three to five times as
many payloads: at 100 orchestrations at once the worker downloaded each input
once, against 1.4 to 5 times without the cold tier (docs/performance.md, "At
load"). A hit on a cold payload inflates it (about 0.7 ms per 300 KiB, against
3 to 5 ms of CPU to download it again) and leaves it cold: promoting it would
deflate another payload in exchange.

Beside the payloads, the cache remembers the tokens its store moved lately
(:meth:`remember`, :meth:`knows`), a few thousand of them, whether or not their
payloads are still kept: a store that can confirm an object cheaply asks only
that for a payload it knows, instead of sending it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._compression import deflate_raw, inflate_raw
from ._recent import RecentTokens

__all__ = ["PayloadCache"]

#: Smaller payloads are not deflated when they go cold: it would save little and cost a call.
MIN_DEFLATE = 1024


class PayloadCache:
    """Least-recently-used payloads, up to *max_bytes* of memory in total.

    Args:
        max_bytes: Capacity in bytes of what is kept (cold payloads count their
            deflated size); 0 disables the cache. A payload larger than half
            the capacity is not cached, so one huge value cannot flush
            everything else.

    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._hot: OrderedDict[str, bytes] = OrderedDict()
        # Cold payloads: what is kept (deflated when that paid), the payload's size, and whether deflated.
        self._cold: OrderedDict[str, tuple[bytes, int, bool]] = OrderedDict()
        self._cooling: dict[str, bytes] = {}  # taken from the hot tier, being deflated
        self._size = 0
        self._hot_size = 0
        # The hot tier gets a quarter of the capacity: the rest holds several times more cold payloads.
        self._hot_max = max_bytes // 4
        self._lock = threading.Lock()
        self._known = RecentTokens()
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        """The capacity in bytes (``cache_max_bytes``); 0 when the cache is disabled."""
        return self._max_bytes

    @property
    def size(self) -> int:
        """Bytes currently kept (cold payloads count their deflated size)."""
        return self._size

    def __len__(self) -> int:
        return len(self._hot) + len(self._cold) + len(self._cooling)

    def __contains__(self, token: object) -> bool:
        return token in self._hot or token in self._cold or token in self._cooling

    def is_hot(self, token: str) -> bool:
        """Whether *token*'s payload is kept as it is, so that :meth:`get` costs only a lookup."""
        return token in self._hot or token in self._cooling

    def remember(self, token: str) -> None:
        """Note that *token*'s payload was stored or read just now (nothing is kept when disabled)."""
        if self._max_bytes > 0:
            self._known.add(token)

    def knows(self, token: str) -> bool:
        """Whether *token*'s payload was moved lately, kept here or not."""
        return token in self._known or token in self

    def get(self, token: str) -> bytes | None:
        """Return the cached payload for *token*, or None."""
        with self._lock:
            data = self._hot.get(token)
            if data is not None:
                self._hot.move_to_end(token)
                self.hits += 1
                return data
            data = self._cooling.get(token)
            if data is not None:
                self.hits += 1
                return data
            cold = self._cold.get(token)
            if cold is None:
                self.misses += 1
                return None
            self._cold.move_to_end(token)
            self.hits += 1
        body, size, deflated = cold
        # Inflated outside the lock: other threads' lookups do not wait for it.
        return inflate_raw(body, size) if deflated else body

    def put(self, token: str, data: bytes) -> None:
        """Remember *data* for *token*; cool and then evict the least recently used payloads as needed."""
        if self._max_bytes <= 0 or len(data) > self._max_bytes // 2:
            return
        with self._lock:
            self._drop(token)
            self._hot[token] = data
            self._size += len(data)
            self._hot_size += len(data)
            cooling = self._take_coolest()
        if cooling:
            self._cool(cooling)

    def _drop(self, token: str) -> None:
        old = self._hot.pop(token, None)
        if old is not None:
            self._size -= len(old)
            self._hot_size -= len(old)
        cold = self._cold.pop(token, None)
        if cold is not None:
            self._size -= len(cold[0])

    def _take_coolest(self) -> list[tuple[str, bytes]]:
        """Take hot payloads, least recent first, until the hot tier and the whole fit (under the lock)."""
        taken: list[tuple[str, bytes]] = []
        while self._hot and (self._hot_size > self._hot_max or self._size > self._max_bytes):
            token, data = self._hot.popitem(last=False)
            self._size -= len(data)
            self._hot_size -= len(data)
            self._cooling[token] = data
            taken.append((token, data))
        self._evict()
        return taken

    def _cool(self, taken: list[tuple[str, bytes]]) -> None:
        # Deflated outside the lock (the engine releases the GIL), then put in the cold tier.
        kept = []
        for token, data in taken:
            body = deflate_raw(data) if len(data) >= MIN_DEFLATE else data
            deflated = len(body) < len(data)
            kept.append((token, (body, len(data)) if deflated else (data, len(data)), deflated))
        with self._lock:
            for token, (body, size), deflated in kept:
                if self._cooling.pop(token, None) is None or token in self._hot:
                    continue  # discarded or put again meanwhile
                self._cold[token] = (body, size, deflated)
                self._size += len(body)
            self._evict()

    def _evict(self) -> None:
        while self._size > self._max_bytes and self._cold:
            _, (body, _, _) = self._cold.popitem(last=False)
            self._size -= len(body)

    def discard(self, token: str) -> None:
        """Forget *token* (its payload was deleted)."""
        with self._lock:
            self._drop(token)
            self._cooling.pop(token, None)
        self._known.discard(token)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._hot.clear()
            self._cold.clear()
            self._cooling.clear()
            self._size = 0
            self._hot_size = 0
        self._known.clear()
