"""Token formats: content names, simple tokens and the .NET/Java blob tokens."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from durabletask_payloads import InvalidPayloadTokenError
from durabletask_payloads._token import (
    EMULATOR_PORTS,
    account_endpoint,
    content_name,
    format_blob_token_v1,
    format_blob_token_v2,
    is_path_style,
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


class TestBlobUriBuilderAddressing:
    """v2 URLs are split into account, container and blob as the Azure SDK's BlobUriBuilder does."""

    @pytest.mark.parametrize("port", sorted(EMULATOR_PORTS))
    def test_every_emulator_port_is_path_style_whatever_the_host(self, port: int) -> None:
        parsed = parse_blob_token(
            f"blob:v2:http://azurite:{port}/devstoreaccount1/durabletask-payloads/{'a' * 32}"
        )
        assert (parsed.account_url, parsed.container) == (
            f"http://azurite:{port}/devstoreaccount1",
            "durabletask-payloads",
        )

    def test_the_emulator_ports_are_the_sdks_twenty(self) -> None:
        assert len(EMULATOR_PORTS) == 20
        assert {10000, 10004, 10100, 10104, 11000, 11004, 11100, 11104} <= EMULATOR_PORTS
        assert not {9999, 10005, 10099, 10105, 10999, 11005, 11099, 11105} & EMULATOR_PORTS

    @pytest.mark.parametrize(
        ("host", "port", "path_style"),
        [
            ("127.0.0.1", 8080, True),
            ("10.1.2.3", None, True),
            ("::ffff:10.1.2.3", 8080, True),  # an IPv6 address written with dots, as .NET's test reads it
            ("::1", 8080, False),  # no dot: .NET takes it for a host name
            ("localhost", 8080, False),  # only an emulator port makes a host name path style
            ("localhost", 10000, True),
            ("acct.blob.core.windows.net", None, False),
            ("acct.blob.core.windows.net", 10001, True),
            ("999.1.1.1", None, False),  # not an address
        ],
    )
    def test_path_style_is_an_ip_with_dots_or_an_emulator_port(
        self, host: str, port: int | None, path_style: bool
    ) -> None:
        assert is_path_style(host, port) is path_style

    def test_a_host_name_on_another_port_is_host_style(self) -> None:
        """So localhost on a custom port puts the container first, as .NET reads it."""
        parsed = parse_blob_token(f"blob:v2:http://localhost:8080/devstoreaccount1/{'b' * 32}")
        assert (parsed.account_url, parsed.container, parsed.blob_name) == (
            "http://localhost:8080",
            "devstoreaccount1",
            "b" * 32,
        )

    @pytest.mark.parametrize(
        ("url", "endpoint"),
        [
            ("https://Acct.Blob.Core.Windows.Net/", "https://acct.blob.core.windows.net"),
            ("https://acct.blob.core.windows.net:443", "https://acct.blob.core.windows.net"),
            ("http://acct.blob.core.windows.net:443", "http://acct.blob.core.windows.net:443"),
            ("http://127.0.0.1:10000/devstoreaccount1/", "http://127.0.0.1:10000/devstoreaccount1"),
            ("http://azurite:10000/devstoreaccount1", "http://azurite:10000/devstoreaccount1"),
            (
                "https://acct.blob.core.windows.net/?sv=2024&sig=secret%3D",
                "https://acct.blob.core.windows.net",
            ),
            ("http://[::ffff:10.0.0.1]:8080/acct", "http://[::ffff:10.0.0.1]:8080/acct"),
        ],
    )
    def test_account_endpoints_are_normalised_without_their_query(self, url: str, endpoint: str) -> None:
        assert account_endpoint(url) == endpoint

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://127.0.0.1:10000", "path style"),
            ("http://127.0.0.1:10000/acct/container", "path style"),
            ("http://localhost:8080/devstoreaccount1", "host style"),
            ("ftp://acct.blob.core.windows.net", "not an http"),
            ("http://host:notaport", "not a valid URL"),
        ],
    )
    def test_urls_that_are_no_account_endpoint_are_refused(self, url: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            account_endpoint(url)

    def test_the_refusal_never_quotes_a_query(self) -> None:
        with pytest.raises(ValueError, match="path style") as refused:
            account_endpoint("http://127.0.0.1:10000/?sv=1&sig=topsecretsignature")
        assert "topsecret" not in str(refused.value)

    def test_an_account_endpoint_and_a_token_of_it_agree(self) -> None:
        for url in ("HTTPS://ACCT.blob.core.windows.net:443/", "http://Azurite:10002/devstoreaccount1/"):
            token = format_blob_token_v2(url, "durabletask-payloads", "c" * 32)
            assert parse_blob_token(token).account_url == account_endpoint(url)


class TestNoCredentialInTokens:
    def test_v2_formatting_drops_a_sas_query(self) -> None:
        token = format_blob_token_v2(
            "http://127.0.0.1:10000/devstoreaccount1/?sv=2024-08-04&sp=rw&sig=abc%2Fdef%3D",
            "durabletask-payloads",
            "d" * 32,
        )
        assert token == f"blob:v2:http://127.0.0.1:10000/devstoreaccount1/durabletask-payloads/{'d' * 32}"

    @pytest.mark.parametrize(
        "token",
        [
            "blob:v2:https://acct.blob.core.windows.net/durabletask-payloads/x?sv=1&sig=leakedsignature123",
            # What a store holding a SAS in its account URL wrote before: the query swallows the path.
            "blob:v2:http://127.0.0.1:10000/devstoreaccount1/?sv=1&sig=leakedsignature123/c0ntainer/"
            + "e" * 32,
            "blob:v2:https://acct.blob.core.windows.net/durabletask-payloads/x?",
            "blob:v2:https://acct.blob.core.windows.net/durabletask-payloads/x#frag",
        ],
    )
    def test_a_token_with_a_query_is_refused_without_repeating_the_signature(self, token: str) -> None:
        with pytest.raises(InvalidPayloadTokenError, match="query, fragment or credentials") as refused:
            parse_blob_token(token)
        assert "leakedsignature123" not in str(refused.value)
        assert "leakedsignature123" not in refused.value.token


class TestMalformedTokensFromTheContract:
    """What .NET does with a malformed blob token, and what we do: fetch nothing, keep it as data."""

    @pytest.mark.parametrize(
        "case", [c for c in _token_cases() if not c["valid"]], ids=lambda c: c["token"][:60]
    )
    def test_dotnet_behaviour_is_recorded_and_ours_is_to_refuse(self, case: dict[str, Any]) -> None:
        assert case["dotnet"] in ("throws", "data") or case["dotnet"].startswith("decodes")
        with pytest.raises(InvalidPayloadTokenError):
            parse_blob_token(case["token"])
