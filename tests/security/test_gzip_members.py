"""Gzip bodies with any number of members inflate in linear work, capped at the read limit."""

from __future__ import annotations

import base64
import gzip
import hashlib
import zlib
from types import ModuleType
from typing import Any

import pytest

from durabletask_payloads import PayloadIntegrityError, PayloadReadLimitError, _compression
from durabletask_payloads._compression import gzip_decompress

from ..interop import vectors

EMPTY_MEMBER = gzip.compress(b"", 6)  # 20 bytes: header, an empty final block, trailer


class CountingEngine:
    """Wraps a deflate module and counts the input bytes handed to its inflaters: the work done."""

    def __init__(self, engine: ModuleType) -> None:
        self.engine = engine
        self.error = engine.error
        self.fed = 0
        self.inflaters = 0

    def decompressobj(self, wbits: int) -> Any:
        self.inflaters += 1
        return _CountingInflater(self, self.engine.decompressobj(wbits))


class _CountingInflater:
    def __init__(self, counter: CountingEngine, inner: Any) -> None:
        self._counter = counter
        self._inner = inner

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        self._counter.fed += len(data)
        return bytes(self._inner.decompress(data, max_length))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["isal", "zlib"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> CountingEngine:
    """Each test runs with ISA-L and with the zlib fallback, counting what they are fed."""
    if request.param == "zlib":
        counting = CountingEngine(zlib)
    else:
        from isal import isal_zlib

        counting = CountingEngine(isal_zlib)
    monkeypatch.setattr(_compression, "_engine", counting)
    return counting


def _dotnet_like(data: bytes, os_byte: int) -> bytes:
    """What .NET's GZipStream(Optimal) writes: zlib level 6, its OS byte, a sync flush, then the end."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH) + deflate.flush(zlib.Z_FINISH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00" + bytes([os_byte])
    trailer = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little") + (len(data) % 2**32).to_bytes(
        4, "little"
    )
    return header + raw + trailer


class TestManyMembers:
    def test_a_body_of_empty_members_is_inflated_in_linear_work(self, engine: CountingEngine) -> None:
        """On main every member was handed all the bytes after it: 256 s of CPU for 10 MiB."""
        body = EMPTY_MEMBER * (256 * 1024 // len(EMPTY_MEMBER))
        assert gzip_decompress(body, max_size=1024, token="t") == b""
        assert engine.inflaters == len(body) // len(EMPTY_MEMBER)
        # Linear: each byte is handed over a few times at most (quadratic would be ~1.7 GB here).
        assert engine.fed <= 8 * len(body)

    def test_ten_mebibytes_of_empty_members_too(self, engine: CountingEngine) -> None:
        """The issue's case, bounded by work counted, not by time (the time is in benchmarks/)."""
        body = EMPTY_MEMBER * (10 * 1024 * 1024 // len(EMPTY_MEMBER))
        assert gzip_decompress(body, max_size=10 * 1024 * 1024, token="t") == b""
        assert engine.fed <= 8 * len(body)

    def test_a_large_member_after_small_ones_is_fed_in_growing_slices(self, engine: CountingEngine) -> None:
        data = bytes(range(256)) * 40_000
        body = EMPTY_MEMBER * 1000 + gzip.compress(data) + gzip.compress(b"tail")
        assert gzip_decompress(body, max_size=len(data) + 4, token="t") == data + b"tail"
        assert engine.fed <= 8 * len(body)
        assert engine.inflaters == 1002

    def test_members_are_joined_in_order(self, engine: CountingEngine) -> None:
        parts = [bytes([65 + i]) * (i * 997) for i in range(20)]
        body = b"".join(gzip.compress(part) for part in parts)
        assert gzip_decompress(body, max_size=10**6, token="t") == b"".join(parts)

    def test_the_output_cap_counts_all_members(self, engine: CountingEngine) -> None:
        body = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
        with pytest.raises(PayloadReadLimitError) as info:
            gzip_decompress(body, max_size=1000, token="tok")
        assert (info.value.token, info.value.limit, info.value.setting) == (
            "tok",
            1000,
            "max_read_payload_bytes",
        )
        assert info.value.size == 1001  # output stops one byte past the limit

    def test_a_bomb_in_a_later_member_stops_at_the_cap(self, engine: CountingEngine) -> None:
        bomb = gzip.compress(b"\0" * 50_000_000)
        with pytest.raises(PayloadReadLimitError, match="1,000 bytes"):
            gzip_decompress(EMPTY_MEMBER * 10 + bomb, max_size=1000, token="t")
        assert engine.fed < len(bomb) + 1000  # it did not run through the whole bomb

    def test_a_truncated_later_member_is_refused(self, engine: CountingEngine) -> None:
        body = gzip.compress(b"abc") + gzip.compress(b"def" * 1000)[:-10]
        with pytest.raises(PayloadIntegrityError, match="truncated"):
            gzip_decompress(body, max_size=10_000, token="t")

    def test_garbage_after_a_member_is_refused(self, engine: CountingEngine) -> None:
        # zlib sees a bad magic at once; ISA-L waits for a whole header and finds the body ends first.
        with pytest.raises(PayloadIntegrityError, match=r"not valid gzip|truncated"):
            gzip_decompress(gzip.compress(b"abc") + b"junk", max_size=10_000, token="t")
        with pytest.raises(PayloadIntegrityError, match="not valid gzip"):
            gzip_decompress(gzip.compress(b"abc") + b"junk" * 10, max_size=10_000, token="t")


class TestDotNetShapedBodies:
    @pytest.mark.parametrize("os_byte", [3, 10])
    def test_level_6_with_a_sync_flush_block_inflates(self, engine: CountingEngine, os_byte: int) -> None:
        data = b'{"order": "\xc3\xa9t\xc3\xa9", "lines": [1, 2, 3]}' * 5000
        body = _dotnet_like(data, os_byte)
        assert b"\x00\x00\xff\xff" in body  # the sync-flush block is really there
        assert gzip.decompress(body) == data  # and the body is standard gzip
        assert gzip_decompress(body, max_size=len(data), token="t") == data

    @pytest.mark.parametrize(
        "blob",
        [b for b in vectors()["blobs"] if b["content_encoding"] == "gzip"],
        ids=lambda b: b["id"],
    )
    def test_the_contracts_dotnet_bodies_inflate(self, engine: CountingEngine, blob: dict[str, Any]) -> None:
        body = base64.b64decode(blob["body_base64"])
        data = gzip_decompress(body, max_size=blob["payload_utf8_bytes"], token="t")
        assert hashlib.sha256(data).hexdigest() == blob["payload_sha256"]
        with pytest.raises(PayloadReadLimitError):
            gzip_decompress(body, max_size=blob["payload_utf8_bytes"] - 1, token="t")
