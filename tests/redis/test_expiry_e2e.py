"""An orchestration whose payload expired in Redis fails for good, saying why, and the worker serves on."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from durabletask import client as dt_client

from durabletask_payloads import RedisPayloadStore, RedisPayloadStoreOptions

from ..conftest import Backend
from ..e2e import workflows as wf
from ..e2e.conftest import start_env, stop_env
from ..helpers import order_batch_of_size
from ..services import Redis

pytestmark = pytest.mark.e2e


def test_an_expired_input_fails_the_orchestration_non_retriably(
    own_backend: Backend, redis_server: Redis
) -> None:
    options = RedisPayloadStoreOptions(
        url=redis_server.url,
        key_prefix=f"e2e-{uuid.uuid4().hex[:8]}:",
        ttl_seconds=3600,
        threshold_bytes=1024,
        cache_max_bytes=0,  # the worker must read the store again when it replays
    )
    store = RedisPayloadStore(options)
    env = start_env("redis-expiry", store, own_backend.address)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        instance_id = env.start(wf.wait_for_event, order_batch_of_size(20_000, seed=9))
        env.client.wait_for_orchestration_start(instance_id, timeout=30)
        held = env.raw.get_orchestration_state(instance_id)
        assert held is not None and env.is_token(held.serialized_input)
        token = held.serialized_input or ""
        raw.pexpireat(token.removeprefix("redis:v1:"), 1)  # expire it now, as the TTL would

        env.raw.raise_orchestration_event(instance_id, "payload", data="go")
        state = env.raw.wait_for_orchestration_completion(instance_id, timeout=60)
        assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.FAILED
        assert state.failure_details is not None
        assert state.failure_details.error_type == "durabletask_payloads.PayloadNotFoundError"
        assert token in state.failure_details.message
        assert "expired (ttl_seconds=3600)" in state.failure_details.message
        completed = [e for e in env.history(instance_id, resolve=False) if e.HasField("executionCompleted")]
        assert [e.executionCompleted.failureDetails.isNonRetriable for e in completed] == [True]

        again = env.run(wf.call_echo, order_batch_of_size(5_000, seed=10))
        assert again.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        assert json.loads(again.serialized_output or "null")["same_echo"] is True
    finally:
        raw.close()
        stop_env(env)
        store.close()
