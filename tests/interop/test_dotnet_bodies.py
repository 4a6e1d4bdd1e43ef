"""The contract's .NET-written bodies, read by the same decoder every store uses (no server needed).

.NET writes ``GZipStream(Optimal)`` output: zlib level 6, the host's OS byte in
the header (3 on Unix, 10 on Windows) and, from its ``FlushAsync()``, an empty
sync-flush block (``00 00 ff ff``) before the final block. Any valid RFC 1952
reader must take these as they are; so must ours.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from durabletask_payloads import LargePayloadStorageOptions
from durabletask_payloads._codec import decode_payload

from . import vectors

BLOBS: list[dict[str, Any]] = vectors()["blobs"]
GZIP_BLOBS = [blob for blob in BLOBS if blob["content_encoding"] == "gzip"]
OPTIONS = LargePayloadStorageOptions()


def _body(blob: dict[str, Any]) -> bytes:
    return base64.b64decode(blob["body_base64"])


class TestTheBodiesAreDotNetShaped:
    """Checks of the vectors themselves: the decoder tests below are only worth what these show."""

    def test_both_os_bytes_occur(self) -> None:
        assert {_body(blob)[9] for blob in GZIP_BLOBS} == {3, 10}

    @pytest.mark.parametrize("blob", GZIP_BLOBS, ids=lambda b: b["id"])
    def test_each_has_a_sync_flush_block_and_no_file_name(self, blob: dict[str, Any]) -> None:
        body = _body(blob)
        assert body[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no FNAME/FEXTRA/FCOMMENT flags
        assert b"\x00\x00\xff\xff" in body

    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_names_are_version_4_guids(self, blob: dict[str, Any]) -> None:
        name = blob["blob_name"]
        assert len(name) == 32 and name == name.lower()
        assert name[12] == "4" and name[16] in "89ab"  # the version and the RFC 4122 variant


class TestOurDecoderReadsThem:
    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_to_the_original_bytes(self, blob: dict[str, Any]) -> None:
        data = decode_payload(
            _body(blob),
            content_encoding=blob["content_encoding"],
            sha256=None,
            token="t",
            options=OPTIONS,
            name=blob["blob_name"],  # a .NET GUID name: read within the limit, nothing to verify it by
            instance_id=None,
            foreign_names=True,  # as the Blob store reads: other SDKs write to its container
        )
        assert len(data) == blob["payload_utf8_bytes"]
        assert hashlib.sha256(data).hexdigest() == blob["payload_sha256"]

    @pytest.mark.parametrize("blob", BLOBS, ids=lambda b: b["id"])
    def test_the_threshold_flag_matches_dotnets_rule(self, blob: dict[str, Any]) -> None:
        threshold = vectors()["dotnet_defaults"]["threshold_bytes"]
        assert blob["above_dotnet_default_threshold"] is (blob["payload_utf8_bytes"] >= threshold)
