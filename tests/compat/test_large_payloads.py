"""The behaviours upstream's large-payload end-to-end tests check, with our Azure store, under both runners.

durabletask-python's ``tests/durabletask/test_large_payload_e2e.py`` checks its
own built-in store. This suite checks the same behaviours with
``durabletask_payloads.BlobPayloadStore`` on the real Azurite, once under
durabletask's own ``TaskHubGrpcWorker``/``TaskHubGrpcClient`` (``payload_store=``
given our store) and once under this package's. Each test also proves that the
value really went through the store: the backend holds a token, not the value.
Where our design differs on purpose (blob names, ``Content-Encoding``), the test
says so and checks our behaviour.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import uuid

import pytest
from durabletask import client as dt_client

from durabletask_payloads import BlobPayloadStore

from ..services import Azurite
from . import workflows as wf
from .conftest import Harness, compat_store

pytestmark = pytest.mark.e2e


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _output(state: dt_client.OrchestrationState) -> object:
    assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state.failure_details
    return json.loads(state.serialized_output or "null")


class TestInputsAndOutputs:
    def test_a_large_orchestration_input_round_trips(self, harness: Harness) -> None:
        value = "i" * (5 * 1024)
        instance_id = harness.client.schedule_new_orchestration(
            wf.echo_input, input=value, instance_id=_id("in")
        )
        assert _output(harness.wait(instance_id)) == value
        assert harness.store.is_known_token(harness.stored_input(instance_id) or "")

    def test_a_large_activity_result_reaches_the_orchestrator(self, harness: Harness) -> None:
        instance_id = harness.client.schedule_new_orchestration(wf.call_produce, input=10 * 1024)
        assert _output(harness.wait(instance_id)) == "z" * (10 * 1024)
        raw = harness.raw.get_orchestration_state(instance_id)
        assert raw is not None and harness.store.is_known_token(raw.serialized_output or "")

    def test_a_large_input_and_a_large_output_both_externalize(self, harness: Harness) -> None:
        value = {"data": "d" * (5 * 1024)}
        instance_id = harness.client.schedule_new_orchestration(wf.reshape, input=value)
        output = _output(harness.wait(instance_id))
        assert output == {"echo": value["data"], "padding": "p" * 3000}
        raw = harness.raw.get_orchestration_state(instance_id)
        assert raw is not None
        assert harness.store.is_known_token(raw.serialized_input or "")
        assert harness.store.is_known_token(raw.serialized_output or "")


class TestEventsAndTermination:
    def test_a_large_external_event_is_delivered(self, harness: Harness) -> None:
        value = "e" * (5 * 1024)
        instance_id = harness.client.schedule_new_orchestration(wf.await_event)
        harness.client.wait_for_orchestration_start(instance_id, timeout=30)
        harness.client.raise_orchestration_event(instance_id, "big", data=value)
        assert _output(harness.wait(instance_id)) == value

    def test_terminating_with_a_large_output(self, harness: Harness) -> None:
        value = "t" * (3 * 1024)
        instance_id = harness.client.schedule_new_orchestration(wf.never_ends)
        harness.client.wait_for_orchestration_start(instance_id, timeout=30)
        harness.client.terminate_orchestration(instance_id, output=value)
        state = harness.wait(instance_id)
        assert state.runtime_status == dt_client.OrchestrationStatus.TERMINATED
        assert json.loads(state.serialized_output or "null") == value
        raw = harness.raw.get_orchestration_state(instance_id)
        assert raw is not None and harness.store.is_known_token(raw.serialized_output or "")


class TestFanOut:
    def test_many_large_activity_results_fan_in_in_order(self, harness: Harness) -> None:
        instance_id = harness.client.schedule_new_orchestration(wf.fan_out_in, input=5)
        results = _output(harness.wait(instance_id))
        assert isinstance(results, list) and len(results) == 5
        for index, result in enumerate(results):
            assert result == f"part-{index}:" + "n" * 2000


class TestWhatLandsInTheContainer:
    def test_blobs_are_created_gzip_with_content_encoding(self, harness: Harness) -> None:
        """Upstream reads blobs with the SDK default and expects gzip magic bytes. Ours say
        ``Content-Encoding: gzip`` (as .NET's do), so the SDK's default download inflates them:
        the raw bytes are gzip, what ``download_blob()`` returns is the JSON."""
        value = "b" * (5 * 1024)
        before = harness.blob_names()
        instance_id = harness.client.schedule_new_orchestration(wf.echo_input, input=value)
        harness.wait(instance_id)
        created = harness.blob_names() - before
        assert created  # the input (the output is the same value of the same instance: one blob)
        for name in created:
            raw = harness.container.download_blob(name, decompress=False)
            assert raw.properties.content_settings.content_encoding == "gzip"
            body = raw.readall()
            assert body[:2] == b"\x1f\x8b"
            assert json.loads(gzip.decompress(body)) == value
            assert json.loads(harness.container.download_blob(name).readall()) == value

    def test_a_small_payload_stays_inline(self, harness: Harness) -> None:
        before = harness.blob_names()
        instance_id = harness.client.schedule_new_orchestration(wf.echo_input, input="hello")
        assert _output(harness.wait(instance_id)) == "hello"
        assert harness.stored_input(instance_id) == '"hello"'
        assert harness.blob_names() == before


class TestTheStoreAlone:
    """Upstream's async store tests; they do not depend on the runner."""

    def test_async_upload_and_download_round_trip(self, azurite: Azurite) -> None:
        payload = b"async round trip " * 300
        with compat_store(azurite) as store:

            async def round_trip() -> tuple[str, bytes]:
                try:
                    token = await store.upload_async(payload, instance_id="async-1")
                    return token, await store.download_async(token)
                finally:
                    await store.aclose()

            token, data = asyncio.run(round_trip())
            assert store.is_known_token(token)
            assert data == payload

    def test_async_upload_compresses(self, azurite: Azurite) -> None:
        payload = b"Z" * 5000
        with compat_store(azurite) as store:

            async def upload() -> str:
                try:
                    return await store.upload_async(payload)
                finally:
                    await store.aclose()

            token = asyncio.run(upload())
            info = store.inspect(token)
            assert (info.content_encoding, info.size) == ("gzip", len(payload))
            assert info.stored_size < len(payload)
            assert store.download(token) == payload

    def test_the_instance_is_recorded_not_put_in_the_name(self, azurite: Azurite) -> None:
        """Upstream names blobs ``<instance>/<uuid>``; ours are 32 hex at the container root (what Java
        requires), derived from content and instance, with the instance in the blob's metadata."""
        with compat_store(azurite) as store:
            token = asyncio.run(_upload_and_close(store, b'"scoped"', "inst-42"))
            container, name = token.split(":")[2:]
            assert container == store.options.container_name and len(name) == 32 and "/" not in name
            assert store.inspect(token).instance_id == "inst-42"
            assert store.download(token) == b'"scoped"'
            assert store.upload(b'"scoped"', instance_id="inst-43") != token  # another instance, another blob


async def _upload_and_close(store: BlobPayloadStore, payload: bytes, instance_id: str) -> str:
    try:
        return await store.upload_async(payload, instance_id=instance_id)
    finally:
        await store.aclose()
