"""Gzip in and out: standard output, bounded and strict input."""

from __future__ import annotations

import gzip
import os

import pytest

from durabletask_payloads import PayloadIntegrityError, PayloadReadLimitError, _compression
from durabletask_payloads._compression import gzip_compress, gzip_decompress

from ..helpers import orders


@pytest.fixture(params=["isal", "zlib"], autouse=True)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with ISA-L and with the zlib fallback."""
    import zlib

    if request.param == "zlib":
        monkeypatch.setattr(_compression, "_engine", zlib)
    else:
        from isal import isal_zlib

        monkeypatch.setattr(_compression, "_engine", isal_zlib)
    return str(request.param)


class TestEngines:
    def test_the_default_engine_is_isal_where_installed(self) -> None:
        assert _compression.BACKEND == "isal"

    def test_each_engine_reads_the_others_output(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import zlib

        from isal import isal_zlib

        data = repr(orders(300)).encode()
        monkeypatch.setattr(_compression, "_engine", isal_zlib)
        by_isal = gzip_compress(data)
        monkeypatch.setattr(_compression, "_engine", zlib)
        by_zlib = gzip_compress(data)
        assert gzip_decompress(by_isal, max_size=len(data), token="t") == data
        monkeypatch.setattr(_compression, "_engine", isal_zlib)
        assert gzip_decompress(by_zlib, max_size=len(data), token="t") == data


class TestCompress:
    def test_output_is_standard_gzip(self) -> None:
        data = repr(orders(200)).encode()
        assert gzip.decompress(gzip_compress(data)) == data

    def test_empty_input(self) -> None:
        assert gzip.decompress(gzip_compress(b"")) == b""


class TestDecompress:
    def test_reads_what_python_gzip_writes(self) -> None:
        data = os.urandom(5000) + b"a" * 5000
        assert gzip_decompress(gzip.compress(data, 9), max_size=len(data), token="t") == data

    def test_output_exactly_at_the_limit_is_allowed(self) -> None:
        assert gzip_decompress(gzip.compress(b"a" * 100), max_size=100, token="t") == b"a" * 100

    def test_a_bomb_is_refused_before_it_inflates(self) -> None:
        bomb = gzip.compress(b"\0" * 50_000_000)
        with pytest.raises(PayloadReadLimitError, match=r"1,001 bytes or more.*limit of 1,000 bytes") as info:
            gzip_decompress(bomb, max_size=1000, token="t")
        assert (info.value.size, info.value.limit) == (1001, 1000)

    def test_concatenated_members_are_joined(self) -> None:
        body = gzip.compress(b"abc") + gzip.compress(b"def")
        assert gzip_decompress(body, max_size=10, token="t") == b"abcdef"

    def test_truncated_body_is_refused(self) -> None:
        body = gzip.compress(os.urandom(1000))
        with pytest.raises(PayloadIntegrityError, match="truncated"):
            gzip_decompress(body[:-20], max_size=10_000, token="tok")

    def test_an_empty_body_is_refused(self) -> None:
        with pytest.raises(PayloadIntegrityError, match="empty"):
            gzip_decompress(b"", max_size=10, token="t")

    def test_garbage_is_refused_and_names_the_token(self) -> None:
        with pytest.raises(PayloadIntegrityError, match=r"'tok'.*not valid gzip"):
            gzip_decompress(b"\x1f\x8bnot really gzip", max_size=10_000, token="tok")
