"""The payload cache: a hot tier kept as is, a cold tier kept deflated, one capacity for both."""

from __future__ import annotations

import os
import threading

from durabletask_payloads._cache import MIN_DEFLATE, PayloadCache
from durabletask_payloads._recent import RecentTokens


def _json(n: int, size: int = 20_000) -> bytes:
    """Compressible, distinct payloads, like workflow JSON."""
    row = b'{"order": %d, "sku": "ABC-%d", "name": "a customer name", "qty": 3},' % (n, n)
    return (row * (size // len(row) + 1))[:size]


class TestTiers:
    def test_cold_payloads_are_deflated_and_come_back_equal(self) -> None:
        cache = PayloadCache(max_bytes=100_000)  # hot tier: 25,000 bytes, one payload
        payloads = {f"t{n}": _json(n) for n in range(8)}
        for token, data in payloads.items():
            cache.put(token, data)
        # 8 x 20,000 bytes raw is 160,000, above the capacity: all are kept, most of them deflated.
        assert len(cache) == 8
        assert cache.size <= 100_000
        assert cache.size < sum(len(d) for d in payloads.values()) / 2
        for token, data in payloads.items():
            assert cache.get(token) == data
        assert cache.hits == 8

    def test_the_capacity_bounds_what_is_kept_whatever_comes_in(self) -> None:
        cache = PayloadCache(max_bytes=50_000)
        for n in range(200):
            cache.put(f"t{n}", os.urandom(5_000) if n % 2 else _json(n, 5_000))
            assert cache.size <= 50_000
        assert cache.get("t199") is not None  # the newest is hot
        assert cache.get("t0") is None  # the oldest was evicted

    def test_incompressible_payloads_go_cold_as_they_are(self) -> None:
        cache = PayloadCache(max_bytes=40_000)
        noise = [os.urandom(9_000) for _ in range(4)]
        for n, data in enumerate(noise):
            cache.put(f"n{n}", data)
        assert [cache.get(f"n{n}") for n in range(4)] == noise
        assert cache.size == 36_000  # nothing was gained by deflating, so nothing was

    def test_small_payloads_are_not_deflated(self) -> None:
        cache = PayloadCache(max_bytes=4 * MIN_DEFLATE)
        small = b"a" * (MIN_DEFLATE - 1)
        for n in range(5):
            cache.put(f"s{n}", small)
        assert cache.size == 4 * len(small)  # the fifth pushed the first out; none shrank

    def test_discard_forgets_a_cold_payload(self) -> None:
        cache = PayloadCache(max_bytes=100_000)
        for n in range(6):
            cache.put(f"t{n}", _json(n))
        assert "t0" in cache
        cache.discard("t0")
        assert "t0" not in cache
        assert cache.get("t0") is None

    def test_putting_a_cold_token_again_makes_it_hot_once(self) -> None:
        cache = PayloadCache(max_bytes=100_000)
        for n in range(6):
            cache.put(f"t{n}", _json(n))
        before = cache.size
        cache.put("t0", _json(0))
        assert len(cache) == 6
        assert cache.get("t0") == _json(0)
        assert cache.size <= 100_000 and cache.size >= before - 20_000


class TestThreads:
    def test_concurrent_puts_and_gets_keep_every_payload_whole(self) -> None:
        cache = PayloadCache(max_bytes=200_000)
        errors: list[str] = []

        def work(offset: int) -> None:
            for n in range(offset, offset + 300):
                data = _json(n, 8_000)
                cache.put(f"t{n}", data)
                got = cache.get(f"t{n - 3}")
                if got is not None and got != _json(n - 3, 8_000):
                    errors.append(f"t{n - 3}")

        threads = [threading.Thread(target=work, args=(k * 1_000,)) for k in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert cache.size <= 200_000
        # The running total is what is really kept, and nothing is left half-cooled.
        kept = sum(len(data) for data in cache._hot.values())
        kept += sum(len(body) for body, _, _ in cache._cold.values())
        assert cache.size == kept
        assert cache._cooling == {}


class TestHotTier:
    def test_only_payloads_kept_as_they_are_are_hot(self) -> None:
        """A work item whose tokens are all hot is resolved on the stream's thread: a cold one is not."""
        cache = PayloadCache(max_bytes=100_000)  # hot tier: 25,000 bytes, one payload of 20,000
        cache.put("old", _json(1))
        cache.put("new", _json(2))
        assert cache.is_hot("new")
        assert "old" in cache and not cache.is_hot("old")  # kept, but deflated
        assert not cache.is_hot("absent")


class TestKnownTokens:
    def test_a_token_stays_known_after_its_payload_is_evicted(self) -> None:
        cache = PayloadCache(4096)
        cache.remember("t1")
        cache.put("t1", os.urandom(1500))
        for n in range(2, 12):  # push t1's payload out (random bytes do not deflate)
            cache.put(f"t{n}", os.urandom(1500))
        assert cache.get("t1") is None
        assert cache.knows("t1")
        assert not cache.knows("never")

    def test_discard_and_clear_forget_tokens_too(self) -> None:
        cache = PayloadCache(4096)
        for token in ("a", "b"):
            cache.remember(token)
        cache.discard("a")
        assert not cache.knows("a")
        assert cache.knows("b")
        cache.clear()
        assert not cache.knows("b")

    def test_a_disabled_cache_knows_nothing(self) -> None:
        cache = PayloadCache(0)
        cache.remember("t")
        assert not cache.knows("t")

    def test_the_record_is_bounded(self) -> None:
        known = RecentTokens(capacity=3)
        for token in "abcd":
            known.add(token)
        assert len(known) == 3
        assert "a" not in known
        assert "d" in known
