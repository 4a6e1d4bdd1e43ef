"""No payload content, key or connection string in any log line or error, end to end at DEBUG."""

from __future__ import annotations

import json
import logging

import pytest
from durabletask import client as dt_client

from durabletask_payloads import (
    BlobPayloadStore,
    BlobPayloadStoreOptions,
    PayloadNotFoundError,
    TaskHubGrpcClient,
    TaskHubGrpcWorker,
)

from ..conftest import Backend
from ..e2e import workflows as wf
from ..helpers import orders
from ..services import DEV_KEY, Azurite

pytestmark = pytest.mark.e2e

SECRET = "4111-1111-1111-1111 CVV 737"  # looks like a card number: must never be logged


def test_nothing_secret_reaches_a_log_line(
    azurite: Azurite, own_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"card": SECRET, "orders": orders(40, seed=77)}
    store = BlobPayloadStore(
        BlobPayloadStoreOptions(
            connection_string=azurite.connection_string, container_name="secrets", threshold_bytes=1024
        )
    )
    # durabletask's own loggers are standalone unless given one: give them one caplog sees.
    logger = logging.getLogger("durabletask.under-test")
    caplog.set_level(logging.DEBUG)
    logger.setLevel(logging.DEBUG)
    worker = TaskHubGrpcWorker(host_address=own_backend.address, payload_store=store, logger=logger)
    wf.register(worker)
    worker.start()
    try:
        with TaskHubGrpcClient(
            host_address=own_backend.address, payload_store=store, logger=logger
        ) as client:
            instance_id = client.schedule_new_orchestration(wf.call_echo, input=payload)
            state = client.wait_for_orchestration_completion(instance_id, timeout=60)
            assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
            assert json.loads(state.serialized_output or "null")["echo"] == payload
            # and an error path: a token whose blob is gone
            missing = store.upload(json.dumps(payload).encode(), instance_id="x")
            store.delete(missing)
            with pytest.raises(PayloadNotFoundError) as failure:
                store.download(missing)
    finally:
        worker.stop()
        store.close()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert len(caplog.records) > 20  # DEBUG logging really was on
    assert "Stored" in text  # our own transfer lines are among them
    for secret in (SECRET, "4111-1111", DEV_KEY, "AccountKey="):
        assert secret not in text
        assert secret not in str(failure.value)
