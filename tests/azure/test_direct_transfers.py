"""The direct path: sync uploads and downloads signed by the store and sent past the SDK's pipeline.

Every request goes through a real recording proxy in front of Azurite, which checks every
Shared Key signature and SAS, so a request signed wrongly fails here as it would in Azure. The
proxy records each request's headers and connection: the user agent says which path sent it.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from durabletask_payloads import (
    BlobPayloadStore,
    PayloadStoreUnavailableError,
)
from durabletask_payloads.stores._azure_accounts import GET_CHUNK

from ..faults import FaultProxy
from ..services import Azurite
from .conftest import proxied_store

DIRECT = "durabletask-payloads/"
SDK = "azsdk-python-storage-blob/"


@pytest.fixture
def container() -> str:
    return f"direct-{uuid.uuid4().hex[:12]}"


def _store(proxy: FaultProxy, container: str, **options: Any) -> BlobPayloadStore:
    return proxied_store(proxy, container, **{"retry_backoff_seconds": 0.01, **options})


def _blob_requests(proxy: FaultProxy, container: str) -> list[tuple[str, str, int]]:
    """Method, user agent and connection of each request on a blob of *container* (not the container)."""
    return [
        (method, headers.get("User-Agent", ""), connection)
        for (method, path), headers, connection in zip(
            proxy.requests, proxy.headers, proxy.connection_of, strict=True
        )
        if f"/{container}/" in path
    ]


def test_uploads_and_downloads_go_direct_on_one_kept_alive_connection(
    proxy: FaultProxy, container: str
) -> None:
    payloads = [os.urandom(64) * 4000 + bytes([n]) for n in range(5)]
    with _store(proxy, container) as writer:
        tokens = [writer.upload(data, instance_id="direct") for data in payloads]
    with _store(proxy, container) as reader:  # an empty cache: every download is a GET
        assert [reader.download(token) for token in tokens] == payloads
    sent = _blob_requests(proxy, container)
    assert [method for method, _, _ in sent] == ["PUT"] * 5 + ["GET"] * 5
    assert all(agent.startswith(DIRECT) for _, agent, _ in sent)
    # One connection per store, each kept alive across its requests.
    assert len({connection for _, _, connection in sent[:5]}) == 1
    assert len({connection for _, _, connection in sent[5:]}) == 1
    # The container was created by the SDK, as every request but uploads and downloads is.
    creates = [
        h
        for (m, p), h in zip(proxy.requests, proxy.headers, strict=True)
        if m == "PUT" and p.endswith(container + "?restype=container")
    ]
    assert len(creates) == 1 and creates[0]["User-Agent"].startswith(SDK)


def test_direct_transfers_false_sends_everything_through_the_sdk(proxy: FaultProxy, container: str) -> None:
    with _store(proxy, container, direct_transfers=False) as writer:
        token = writer.upload(b"through the SDK" * 1000)
    with _store(proxy, container, direct_transfers=False) as reader:
        assert reader.download(token) == b"through the SDK" * 1000
    sent = _blob_requests(proxy, container)
    assert [method for method, _, _ in sent] == ["PUT", "GET"]
    assert all(agent.startswith(SDK) for _, agent, _ in sent)


def test_both_paths_write_the_same_blob(azurite: Azurite, proxy: FaultProxy, container: str) -> None:
    """Same name, metadata, encoding and bytes: each path reads what the other wrote."""
    data = b'{"orders": [' + b'{"id": 1}, ' * 30000 + b"]}"
    written = {}
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        for direct in (True, False):
            with _store(proxy, container, direct_transfers=direct) as store:
                token = store.upload(data, instance_id="both")
            blob = service.get_blob_client(container, token.rsplit(":", 1)[1])
            properties = blob.get_blob_properties()
            written[direct] = (
                token,
                dict(properties.metadata),
                properties.content_settings.content_encoding,
                properties.content_settings.content_type,
                blob.download_blob(decompress=False).readall(),
            )
            if direct:
                blob.delete_blob()
    assert written[True] == written[False]
    assert written[True][2:4] == ("gzip", "application/octet-stream")
    for direct in (True, False):
        with _store(proxy, container, direct_transfers=not direct) as store:
            assert store.download(written[direct][0]) == data


def test_an_idle_connection_the_server_closed_is_replaced_without_a_retry(
    proxy: FaultProxy, container: str
) -> None:
    proxy.close_after_answer = True  # as a server does at its keep-alive timeout, saying nothing
    with _store(proxy, container, retry_total=0) as store:
        store.upload(b"first" * 1000)  # creates the container (SDK), then one PUT (direct)
        for n in range(3):
            proxy.wait_closed(proxy.connections)  # the server has closed every connection so far
            store.upload(b"next" * 1000 + bytes([n]))
    sent = _blob_requests(proxy, container)
    assert [method for method, _, _ in sent] == ["PUT"] * 4  # no request was sent twice
    assert len({connection for _, _, connection in sent}) == 4


def test_a_dropped_connection_is_a_transient_failure_and_is_retried(
    proxy: FaultProxy, container: str
) -> None:
    with _store(proxy, container, retry_total=2) as store:
        store.upload(b"warm" * 1000)
        proxy.inject("PUT", 1, drop=True, path_contains=f"/{container}/")
        token = store.upload(b"dropped once" * 1000)
    assert [method for method, _, _ in _blob_requests(proxy, container)] == ["PUT"] * 3
    proxy.inject("GET", 3, drop=True, path_contains=f"/{container}/")
    with (
        _store(proxy, container, retry_total=2) as reader,
        pytest.raises(PayloadStoreUnavailableError, match="ServiceResponseError"),
    ):
        reader.download(token)
    assert proxy.count("GET", f"/{container}/") == 3  # the first try and two retries
    with _store(proxy, container) as reader:
        assert reader.download(token) == b"dropped once" * 1000


def test_a_blob_larger_than_one_get_is_read_in_chunks_of_one_version(
    proxy: FaultProxy, container: str
) -> None:
    data = os.urandom(2 * GET_CHUNK + 1000)
    with _store(proxy, container, max_stored_payload_bytes=4 * GET_CHUNK, enable_compression=False) as writer:
        token = writer.upload(data)
    with _store(proxy, container, max_stored_payload_bytes=4 * GET_CHUNK) as reader:
        assert reader.download(token) == data
    gets = [
        h
        for (m, p), h in zip(proxy.requests, proxy.headers, strict=True)
        if m == "GET" and f"/{container}/" in p
    ]
    assert [h["x-ms-range"] for h in gets] == [
        f"bytes=0-{GET_CHUNK - 1}",
        f"bytes={GET_CHUNK}-{2 * GET_CHUNK - 1}",
        f"bytes={2 * GET_CHUNK}-{2 * GET_CHUNK + 999}",
    ]
    # The later GETs read the version the first one did.
    assert "If-Match" not in gets[0] and gets[1]["If-Match"] == gets[2]["If-Match"] != ""
