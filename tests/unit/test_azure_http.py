"""The direct Blob path's pure parts: its Shared Key signature (the SDK's own policy is the oracle),
the headers it sends for the driver's arguments, the SDK errors it raises, and when it is used.

Its requests against a real Azurite, which checks every signature: tests/azure/test_direct_transfers.py.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.core.credentials import AccessToken, AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob import BlobServiceClient, ContentSettings, CustomerProvidedEncryptionKey
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    PayloadNotFoundError,
    PayloadStoreRefusedError,
    PayloadStoreUnavailableError,
)
from durabletask_payloads.stores._azure_driver import failure
from durabletask_payloads.stores._azure_http import BlobHttp, direct_http
from durabletask_payloads.stores._azure_rest import SharedKey, error_for, put_headers, shared_key_signature

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ENDPOINT = f"http://127.0.0.1:10000/{ACCOUNT}"
DIRECT = {"connect_timeout": 1.0, "read_timeout": 1.0, "pool_size": 10, "ca_bundle": None, "proxied": False}


def _sdk_signature(method: str, url: str, headers: dict[str, str]) -> str:
    request = PipelineRequest(HttpRequest(method, url, headers=dict(headers)), PipelineContext(None))
    SharedKeyCredentialPolicy(ACCOUNT, KEY).on_request(request)
    return str(request.http_request.headers["Authorization"])


COMMON = {
    "x-ms-version": "2026-10-06",
    "x-ms-date": "Tue, 01 Dec 2026 22:00:00 GMT",
    "x-ms-client-request-id": "5b0a3c1e-1111-4222-8333-944455556666",
}


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        (
            "PUT",
            {
                **COMMON,
                "x-ms-blob-type": "BlockBlob",
                "Content-Type": "application/octet-stream",
                "If-None-Match": "*",
                "x-ms-meta-payloadsha256": "ab" * 32,
                "x-ms-meta-payloadsize": "307397",
                "x-ms-meta-instanceid": "order%2F42",
                "x-ms-blob-content-encoding": "gzip",
                "Content-Length": "89567",
            },
        ),
        ("PUT", {**COMMON, "x-ms-blob-type": "BlockBlob", "If-Match": '"0x8DC"', "Content-Length": "0"}),
        ("GET", {**COMMON, "x-ms-range": "bytes=0-4194303"}),
        ("GET", {**COMMON, "x-ms-range": "bytes=4194304-8388607", "If-Match": '"0x8DC"'}),
        (
            "GET",
            {
                **COMMON,
                "x-ms-encryption-key": "a2V5",
                "x-ms-encryption-key-sha256": "aGFzaA==",
                "x-ms-encryption-algorithm": "AES256",
            },
        ),
    ],
)
@pytest.mark.parametrize("name", ["0123456789abcdef0123456789abcdef", "dotnet/nested name~1"])
def test_the_signature_is_the_sdks(method: str, headers: dict[str, str], name: str) -> None:
    from urllib.parse import quote

    path = f"/{ACCOUNT}/payloads/{quote(name, safe='~/')}"
    ours = shared_key_signature(SharedKey(ACCOUNT, base64.b64decode(KEY)), method, path, headers)
    assert ours == _sdk_signature(method, f"http://127.0.0.1:10000{path}", headers)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "BlobNotFound", ResourceNotFoundError),
        (404, "ContainerNotFound", ResourceNotFoundError),
        (409, "BlobAlreadyExists", ResourceExistsError),
        (412, "ConditionNotMet", ResourceModifiedError),
        (403, "AuthenticationFailed", ClientAuthenticationError),
        (401, None, ClientAuthenticationError),
        (403, "AuthorizationFailure", HttpResponseError),
        (503, "ServerBusy", HttpResponseError),
        (500, None, HttpResponseError),
    ],
)
def test_a_refusal_is_the_sdks_error_type(status: int, code: str | None, kind: type[Exception]) -> None:
    error = error_for(status, code, "Reason")
    assert type(error) is kind
    assert error.status_code == status
    assert getattr(error, "error_code", None) == code


@pytest.mark.parametrize(
    ("status", "code", "ours"),
    [
        (404, "BlobNotFound", PayloadNotFoundError),
        (503, "ServerBusy", PayloadStoreUnavailableError),
        (500, "InternalError", PayloadStoreUnavailableError),
        (429, None, PayloadStoreUnavailableError),
        (403, "AuthorizationFailure", PayloadStoreRefusedError),
        (400, "InvalidHeaderValue", PayloadStoreRefusedError),
    ],
)
def test_the_driver_maps_them_as_it_maps_the_sdks(
    status: int, code: str | None, ours: type[Exception]
) -> None:
    mapped = failure(error_for(status, code, "Reason"), "download", "blob:v1:c:n")
    assert isinstance(mapped, ours)
    assert f"HTTP {status}" in str(mapped)
    if code:
        assert code in str(mapped)


def test_a_create_only_upload_says_if_none_match() -> None:
    headers = put_headers(
        {
            "overwrite": False,
            "metadata": {"payloadsha256": "ab", "payloadsize": "3"},
            "content_settings": ContentSettings(content_encoding="gzip"),
        }
    )
    assert headers == {
        "x-ms-blob-type": "BlockBlob",
        "Content-Type": "application/octet-stream",
        "If-None-Match": "*",
        "x-ms-meta-payloadsha256": "ab",
        "x-ms-meta-payloadsize": "3",
        "x-ms-blob-content-encoding": "gzip",
    }


def test_a_conditional_replace_says_if_match_and_carries_the_keys() -> None:
    cpk = CustomerProvidedEncryptionKey(key_value="a2V5", key_hash="aGFzaA==")
    headers = put_headers(
        {
            "overwrite": True,
            "etag": '"0x8DC"',
            "match_condition": MatchConditions.IfNotModified,
            "content_settings": ContentSettings(content_encoding=None),
            "cpk": cpk,
        }
    )
    assert headers["If-Match"] == '"0x8DC"'
    assert "If-None-Match" not in headers and "x-ms-blob-content-encoding" not in headers
    assert headers["x-ms-encryption-key"] == "a2V5"
    assert headers["x-ms-encryption-key-sha256"] == "aGFzaA=="
    assert headers["x-ms-encryption-algorithm"] == "AES256"
    assert put_headers({"encryption_scope": "scope-1"})["x-ms-encryption-scope"] == "scope-1"


def test_an_argument_the_path_does_not_send_is_refused_not_dropped() -> None:
    with pytest.raises(TypeError, match="standard_blob_tier"):
        put_headers({"standard_blob_tier": "Cool"})


class _Token:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("t", 0)


@pytest.mark.parametrize(
    ("client", "direct"),
    [
        (BlobServiceClient(ENDPOINT, credential={"account_name": ACCOUNT, "account_key": KEY}), True),
        (BlobServiceClient(ENDPOINT, credential=AzureNamedKeyCredential(ACCOUNT, KEY)), True),
        (BlobServiceClient(f"{ENDPOINT}?sv=2020-08-04&sig=abc"), True),
        (BlobServiceClient(ENDPOINT, credential=AzureSasCredential("sv=2020-08-04&sig=abc")), True),
        (
            BlobServiceClient("https://acc.blob.core.windows.net", credential=_Token()),
            False,
        ),  # Entra ID: the SDK's bearer policy
        (BlobServiceClient(ENDPOINT), False),  # anonymous
    ],
    ids=["account-key", "named-key", "sas-in-url", "sas-credential", "token", "anonymous"],
)
def test_the_direct_path_is_used_only_where_it_signs_as_the_sdk(
    client: BlobServiceClient, direct: bool
) -> None:
    assert (direct_http(client, **DIRECT) is not None) is direct  # type: ignore[arg-type]
    assert direct_http(client, **{**DIRECT, "proxied": True}) is None  # type: ignore[arg-type]


def test_the_option_turns_it_off() -> None:
    options = {"connection_string": f"AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={ENDPOINT}"}
    with BlobPayloadStore(BlobPayloadStoreOptions(**options)) as store:  # type: ignore[arg-type]
        assert store._own.direct is not None
    with BlobPayloadStore(BlobPayloadStoreOptions(**options, direct_transfers=False)) as store:  # type: ignore[arg-type]
        assert store._own.direct is None
    with pytest.raises(TypeError, match="direct_transfers"):
        BlobPayloadStoreOptions(**options, direct_transfers="yes")  # type: ignore[arg-type]


def test_a_proxy_in_the_environment_keeps_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    options = BlobPayloadStoreOptions(
        connection_string=f"AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint=http://example.invalid/{ACCOUNT}"
    )
    with BlobPayloadStore(options) as store:
        assert store._own.direct is None


@pytest.mark.parametrize("bundle", [None, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"])
def test_a_ca_bundle_may_be_a_file_or_a_directory(bundle: str | None) -> None:
    """As requests accepts ``REQUESTS_CA_BUNDLE``: a file, a directory, or certifi's when unset."""
    http = BlobHttp(
        "https://acc.blob.core.windows.net",
        key=SharedKey("acc", b"k"),
        sas=None,
        api_version="2026-10-06",
        connect_timeout=1,
        read_timeout=1,
        pool_size=1,
        ca_bundle=bundle,
    )
    http.close()
