"""The proxy environment reaches the Blob store, read once when the store is made.

requests re-reads every ``*_proxy`` variable and the netrc file on each request
of a session that trusts the environment; the store reads them once instead
(stores/_azure_accounts.py). These tests show that the environment still
decides, with a real forward proxy (tests/faults.py) in front of Azurite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import durabletask_payloads as dtp
from tests.faults import FaultProxy
from tests.services import Azurite

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def proxy(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    with FaultProxy(azurite.port) as server:
        yield server


def _store(azurite: Azurite) -> dtp.BlobPayloadStore:
    return dtp.BlobPayloadStore(
        dtp.BlobPayloadStoreOptions(
            connection_string=azurite.connection_string, container_name=f"env-{uuid.uuid4().hex[:8]}"
        )
    )


def _round_trip(store: dtp.BlobPayloadStore) -> None:
    token = store.upload(b"x" * 1000, instance_id="env")
    assert store.download(token) == b"x" * 1000


def test_http_proxy_from_the_environment_carries_every_request(
    azurite: Azurite, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    with _store(azurite) as store:
        _round_trip(store)
    # The container, the blob and the read, each as an absolute-form request through the proxy.
    assert proxy.count("PUT") == 2
    assert proxy.count("GET") == 1
    assert all(path.startswith(f"http://127.0.0.1:{azurite.port}/") for _, path in proxy.requests)


def test_no_proxy_from_the_environment_bypasses_it(
    azurite: Azurite, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with _store(azurite) as store:
        _round_trip(store)
    assert proxy.requests == []


def test_the_environment_is_read_when_the_store_is_made(
    azurite: Azurite, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set after the store was made, a proxy is not used by it: the documented cost of reading once."""
    with _store(azurite) as store:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        _round_trip(store)
        assert proxy.requests == []
    with _store(azurite) as store:
        _round_trip(store)
        assert proxy.count("GET") == 1


def test_a_ca_bundle_from_the_environment_is_kept(
    azurite: Azurite, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    with _store(azurite) as store:
        transport = store._own.sync._config.transport  # the transport the store built
        assert transport.connection_config.verify == "/etc/ssl/certs/ca-certificates.crt"
        assert transport.session.trust_env is False
        _round_trip(store)
