"""S3PayloadStore as a driver under the one pipeline: what goes on the wire, counted at a proxy.

The store talks to moto through :class:`~tests.faults.FaultProxy`, which records every request,
so "only a HEAD", "one PUT" and "the body was not read" are counts, never timings.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from durabletask_payloads import DriverPayloadStore, PayloadReadLimitError, S3PayloadStore

from ..conftest import new_s3_bucket, s3_options
from ..faults import FaultProxy
from ..services import MotoS3

pytestmark = pytest.mark.s3


@pytest.fixture
def proxy(s3_server: MotoS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.port) as proxy:
        yield proxy


def _store(server: MotoS3, proxy: FaultProxy, bucket: str, **options: Any) -> S3PayloadStore:
    settings = s3_options(server, bucket, **options)
    return S3PayloadStore(dataclasses.replace(settings, endpoint_url=f"http://127.0.0.1:{proxy.port}"))


def test_the_store_is_a_pipeline_over_a_driver(s3_server: MotoS3, proxy: FaultProxy) -> None:
    with _store(s3_server, proxy, new_s3_bucket(s3_server)) as store:
        assert isinstance(store, DriverPayloadStore)
        assert store.token_prefixes == ("s3:v1:",)


def test_a_payload_moved_recently_is_confirmed_with_one_head(s3_server: MotoS3, proxy: FaultProxy) -> None:
    with _store(s3_server, proxy, new_s3_bucket(s3_server)) as store:
        # The batch methods remember what they moved (the cache); a single upload then only checks.
        [token] = store.upload_many([b"twice" * 1000], instance_id="i")
        puts, heads = proxy.count("PUT"), proxy.count("HEAD")
        assert store.upload(b"twice" * 1000, instance_id="i") == token
        assert (proxy.count("PUT") - puts, proxy.count("HEAD") - heads) == (0, 1)


def test_an_unknown_payload_is_written_with_one_conditional_put(s3_server: MotoS3, proxy: FaultProxy) -> None:
    with _store(s3_server, proxy, new_s3_bucket(s3_server)) as store:
        before = len(proxy.requests)
        token = store.upload(b"once")
        assert [method for method, _ in proxy.requests[before:]] == ["PUT"]
        assert store.download(token) == b"once"


def test_async_twins_make_the_same_requests(s3_server: MotoS3, proxy: FaultProxy) -> None:
    with _store(s3_server, proxy, new_s3_bucket(s3_server)) as store:

        async def scenario() -> tuple[bytes, bool]:
            token = await store.upload_async(b"async" * 100, instance_id="a")
            data = await store.download_async(token)
            return data, await store.delete_async(token)

        before = len(proxy.requests)
        assert asyncio.run(scenario()) == (b"async" * 100, True)
        # A delete looks first (S3 answers a DELETE of a missing key with success); obstore
        # sends the delete itself as S3's DeleteObjects, a POST.
        assert [method for method, _ in proxy.requests[before:]] == ["PUT", "GET", "HEAD", "POST"]


def test_an_oversized_object_is_refused_from_its_headers(s3_server: MotoS3, proxy: FaultProxy) -> None:
    bucket = new_s3_bucket(s3_server)
    with _store(s3_server, proxy, bucket, enable_compression=False) as writer:
        token = writer.upload(b"x" * 5000)
    limits = {"threshold_bytes": 100, "max_stored_payload_bytes": 1000}
    with _store(s3_server, proxy, bucket, enable_compression=False, **limits) as reader:
        gets = proxy.count("GET")
        with pytest.raises(PayloadReadLimitError, match="5,000 bytes"):
            reader.download(token)
        # One GET, refused on Content-Length: no second attempt, no retry of a permanent refusal.
        assert proxy.count("GET") - gets == 1


def test_listing_stays_in_the_store_bucket(s3_server: MotoS3, proxy: FaultProxy) -> None:
    own, other = new_s3_bucket(s3_server), new_s3_bucket(s3_server)
    with _store(s3_server, proxy, other) as elsewhere:
        foreign = elsewhere.upload(b"in the other bucket")
    with _store(s3_server, proxy, own, allowed_buckets=(other,)) as store:
        mine = store.upload(b"in my bucket")
        assert [info.token for info in store.list_payloads()] == [mine]
        assert store.download(foreign) == b"in the other bucket"
        assert store.inspect(foreign).token == foreign


class TestAKnownPayloadWhoseHeadFails:
    """The pipeline saw the payload recently, but the HEAD that should confirm it is refused.

    The pipeline takes the driver's answer as final, so the driver must not take the PUT's 412
    for "there": it reads the object back and verifies it, as any write of a payload never seen.
    """

    @pytest.mark.parametrize("run_async", [False, True], ids=["sync", "async"])
    def test_the_412_is_read_back_and_verified(
        self, s3_server: MotoS3, proxy: FaultProxy, run_async: bool
    ) -> None:
        with _store(s3_server, proxy, new_s3_bucket(s3_server)) as store:
            data = b"seen" * 1000
            [token] = store.upload_many([data], instance_id="i")
            before = {method: proxy.count(method) for method in ("HEAD", "PUT", "GET")}
            proxy.inject("HEAD", 1, status=503)
            if run_async:
                assert asyncio.run(store.upload_async(data, instance_id="i")) == token
            else:
                assert store.upload(data, instance_id="i") == token
            made = {method: proxy.count(method) - before[method] for method in before}
            # HEAD (refused) -> conditional PUT (412: taken) -> GET (read back, verified): no replace.
            assert made == {"HEAD": 1, "PUT": 1, "GET": 1}
            assert proxy.faults[-1].count == 0  # the refusal was served

    def test_a_bad_copy_found_so_is_replaced(self, s3_server: MotoS3, proxy: FaultProxy) -> None:
        bucket = new_s3_bucket(s3_server)
        with _store(s3_server, proxy, bucket) as store:
            data = b"good" * 1000
            [token] = store.upload_many([data], instance_id="i")
            s3 = s3_server.client()
            s3.put_object(Bucket=bucket, Key=token.split(":", 3)[3], Body=b"planted")
            s3.close()
            before = {method: proxy.count(method) for method in ("HEAD", "PUT", "GET")}
            proxy.inject("HEAD", 1, status=503)
            assert store.upload(data, instance_id="i") == token
            made = {method: proxy.count(method) - before[method] for method in before}
            # HEAD (refused) -> PUT (412) -> GET (does not verify) -> PUT If-Match (replaced).
            assert made == {"HEAD": 1, "PUT": 2, "GET": 1}
        with _store(s3_server, proxy, bucket) as reader:  # a cold cache: the object itself is read
            assert reader.download(token) == data
