"""What every remote store keeps: Azure Blob (Azurite), S3 (moto), Redis (redis-server).

``remote`` tests run on the real server; ``offline`` tests need none (and carry no server marker).

Driven by :mod:`tests.stores.remote_harness`; the contract every store keeps, remote or not, is
test_contract.py, and what one store alone does is in tests/azure, tests/s3 and tests/redis.
"""

from __future__ import annotations

import pytest

from durabletask_payloads import PayloadIntegrityError, PayloadStoreUnavailableError

from ..faults import ConnectionCounter
from ..helpers import (
    check_async_round_trip_and_close,
    check_each_event_loop_is_served,
    import_error_without,
    race_uploads,
)
from .remote_harness import Offline, Remote


class TestConditionalWrites:
    def test_a_second_upload_of_the_same_payload_does_not_rewrite_it(self, remote: Remote) -> None:
        with remote.store() as store:
            token = store.upload(b"same payload", instance_id="i")
            before = remote.fingerprint(token)
            assert store.upload(b"same payload", instance_id="i") == token
        with remote.store() as fresh:  # no cache: what the storage holds decides
            assert fresh.upload(b"same payload", instance_id="i") == token
        assert remote.fingerprint(token) == before

    def test_racing_writers_end_with_one_object(self, remote: Remote) -> None:
        stores = [remote.store() for _ in range(6)]
        try:
            tokens = race_uploads(stores, b"raced" * 1000, "r")
            assert len(tokens) == 6 and len(set(tokens)) == 1
            assert remote.keys() == [remote.key(tokens[0])]
            assert stores[0].download(tokens[0]) == b"raced" * 1000
        finally:
            for store in stores:
                store.close()


class TestIntegrity:
    def test_changed_bytes_fail_the_hash_check(self, remote: Remote) -> None:
        with remote.store() as store:
            token = store.upload(b"the original", instance_id="i")
            remote.rewrite(token, b"the forgery!")  # the recorded hash and size stay
            with pytest.raises(PayloadIntegrityError, match="SHA-256"):
                store.download(token)


class TestUnreachable:
    def test_reads_and_writes_are_retried_then_fail_as_transient_naming_no_secret(
        self, offline: Offline
    ) -> None:
        with ConnectionCounter() as port, offline.unreachable(port.port) as store:
            with pytest.raises(PayloadStoreUnavailableError) as upload:
                store.upload(b"x")
            after_upload = port.count()
            with pytest.raises(PayloadStoreUnavailableError) as download:
                store.download(offline.token)
            after_download = port.count()
        # retry_total=1: each operation tried at least twice (the client library may add attempts).
        assert after_upload >= 2 and after_download - after_upload >= 2, (after_upload, after_download)
        for error in (upload.value, download.value):
            assert error.transient
            for secret in offline.secrets:
                assert secret not in str(error)


class TestAsync:
    def test_async_round_trip_and_close(self, remote: Remote) -> None:
        with remote.store() as store:
            check_async_round_trip_and_close(store)

    def test_each_event_loop_is_served(self, remote: Remote) -> None:
        with remote.store() as store:
            check_each_event_loop_is_served(store)


def test_a_missing_extra_names_the_install_command(offline: Offline) -> None:
    module, store, options, install = offline.extra
    assert install in import_error_without(module, store, options)
