"""Token formats: content names, simple tokens and the .NET/Java blob tokens."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from durabletask_payloads import InvalidPayloadTokenError
from durabletask_payloads._token import (
    content_name,
    format_blob_token_v1,
    format_blob_token_v2,
    parse_blob_token,
    parse_simple_token,
    sha256_hex,
)

from ..interop import HERE, VECTORS, vectors

JAVA_V1 = re.compile(r"^blob:v1:[^:]+:[0-9a-f]{32}$")


def _shared_vectors() -> Path:
    configured = os.environ.get("DURABLETASK_SHARED_INTEROP")
    if configured:
        return Path(configured) / "vectors.json"
    return HERE.parents[2] / "shared" / "interop" / "vectors.json"


class TestVendoredVectors:
    def test_vendored_copy_is_identical_to_the_shared_contract(self) -> None:
        """tests/interop/vectors.json must be a verbatim copy of ../shared/interop/vectors.json."""
        shared = _shared_vectors()
        if not shared.exists():
            pytest.skip(f"the shared contract is not checked out next to this repository ({shared})")
        assert VECTORS.read_bytes() == shared.read_bytes()


class TestContentName:
    def test_is_32_lowercase_hex(self) -> None:
        assert re.fullmatch(r"[0-9a-f]{32}", content_name(sha256_hex(b"x"), "i"))

    def test_same_payload_same_instance_same_name(self) -> None:
        assert content_name(sha256_hex(b"x"), "i") == content_name(sha256_hex(b"x"), "i")

    def test_instance_scopes_the_name(self) -> None:
        digest = sha256_hex(b"x")
        names = {content_name(digest, "a"), content_name(digest, "b"), content_name(digest, None)}
        assert len(names) == 3

    def test_empty_scope_differs_from_no_scope(self) -> None:
        assert content_name(sha256_hex(b"x"), "") != content_name(sha256_hex(b"x"), None)

    def test_different_payloads_differ(self) -> None:
        assert content_name(sha256_hex(b"x"), "i") != content_name(sha256_hex(b"y"), "i")


class TestSimpleTokens:
    def test_parses_its_own_scheme(self) -> None:
        assert parse_simple_token("file", "file:v1:" + "a" * 32) == "a" * 32

    @pytest.mark.parametrize(
        "token",
        [
            "file:v1:../../etc/passwd",
            "file:v1:/etc/passwd",
            "file:v1:aa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "file:v1:" + "A" * 32,
            "file:v1:" + "a" * 31,
            "file:v1:" + "a" * 33,
            "file:v1:" + "a" * 31 + "\n",
            "file:v2:" + "a" * 32,
            "memory:v1:" + "a" * 32,
            "",
        ],
    )
    def test_refuses_anything_but_32_hex(self, token: str) -> None:
        with pytest.raises(InvalidPayloadTokenError):
            parse_simple_token("file", token)


def _token_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = vectors()["tokens"]
    return cases


class TestBlobTokensFromTheContract:
    @pytest.mark.parametrize("case", _token_cases(), ids=lambda c: c["token"][:60])
    def test_parses_or_refuses_as_listed(self, case: dict[str, Any]) -> None:
        if not case["valid"]:
            with pytest.raises(InvalidPayloadTokenError):
                parse_blob_token(case["token"])
            return
        parsed = parse_blob_token(case["token"])
        assert parsed.version == case["version"]
        assert parsed.container == case["container"]
        assert parsed.blob_name == case["blob_name"]
        assert parsed.account_url == case.get("account_url")

    @pytest.mark.parametrize("blob", vectors()["blobs"], ids=lambda b: b["id"])
    def test_every_token_of_every_dotnet_blob_parses(self, blob: dict[str, Any]) -> None:
        for token in blob["tokens"]:
            parsed = parse_blob_token(token)
            assert (parsed.container, parsed.blob_name) == (blob["container"], blob["blob_name"])


class TestBlobTokenSafety:
    @pytest.mark.parametrize(
        "token",
        [
            "blob:v1:durabletask-payloads:../other/secret",
            "blob:v1:durabletask-payloads:a/../../other/x",
            "blob:v1:durabletask-payloads:/abs",
            "blob:v1:durabletask-payloads:a//b",
            "blob:v1:durabletask-payloads:a\\b",
            "blob:v1:durabletask-payloads:a\x00b",
            "blob:v1:durabletask-payloads:" + "a" * 1025,
            "blob:v1:Bad_Container:abc",
            "blob:v1:ab:abc",
            "blob:v1:a--b:abc",
            "blob:v2:https://acct.blob.core.windows.net/c0ntainer/%2e%2e/x",
            "blob:v2:https://acct.blob.core.windows.net/durabletask-payloads/x?sig=secret",
            "blob:v2:https://user:pw@acct.blob.core.windows.net/durabletask-payloads/x",
            "blob:v2:file:///etc/passwd",
            "blob:v2:http://127.0.0.1:10000/devstoreaccount1/durabletask-payloads",
            "blob:v2:https://acct.blob.core.windows.net/durabletask-payloads/a b",
            "blob:v1:" + "c" * 5000,
        ],
    )
    def test_refuses_tokens_that_could_escape_their_container(self, token: str) -> None:
        with pytest.raises(InvalidPayloadTokenError):
            parse_blob_token(token)

    def test_v1_name_may_hold_a_path_and_colons(self) -> None:
        """Blobs written by durabletask's built-in store are named <instance>/<hex>."""
        parsed = parse_blob_token("blob:v1:durabletask-payloads:inst-1/0123:abc")
        assert parsed.blob_name == "inst-1/0123:abc"


class TestFormatting:
    def test_v1_round_trips_and_matches_javas_pattern(self) -> None:
        token = format_blob_token_v1("durabletask-payloads", "0" * 32)
        assert JAVA_V1.match(token)
        assert parse_blob_token(token).blob_name == "0" * 32

    def test_v2_round_trips_on_azure_and_azurite_urls(self) -> None:
        for account in ("https://acct.blob.core.windows.net", "http://127.0.0.1:10000/devstoreaccount1"):
            parsed = parse_blob_token(format_blob_token_v2(account + "/", "durabletask-payloads", "f" * 32))
            assert (parsed.version, parsed.account_url, parsed.blob_name) == (2, account, "f" * 32)
