"""The sweep, unit by unit: grace period, refusal, the second look at live writers, failed deletions.

Fakes only here; the real command runs in test_gc_invariant.py and tests/cli.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import wrappers_pb2

from durabletask_payloads import InMemoryPayloadStore, LargePayloadStorageOptions, PayloadStoreRefusedError
from durabletask_payloads._gc import Finding, GcSettings, collect_garbage

from .test_census import PagingBackend

NOW = GcSettings(older_than=timedelta(0), delete=True)


class Backend(PagingBackend):
    def GetEntity(self, request: pb.GetEntityRequest, metadata: Any = ()) -> pb.GetEntityResponse:
        return pb.GetEntityResponse(exists=False)


@pytest.fixture
def store() -> InMemoryPayloadStore:
    return InMemoryPayloadStore(LargePayloadStorageOptions(threshold_bytes=1024))


def _instance(instance_id: str, token: str) -> pb.OrchestrationState:
    return pb.OrchestrationState(instanceId=instance_id, input=wrappers_pb2.StringValue(value=token))


def _gc(
    store: InMemoryPayloadStore, backend: Backend, settings: GcSettings = NOW
) -> tuple[Any, list[Finding]]:
    findings: list[Finding] = []
    report = collect_garbage(backend, store, settings, backend="fake:1", on_finding=findings.append)
    return report, findings


def _actions(findings: list[Finding]) -> dict[str, str]:
    return {f.info.token: f.action for f in findings}


class TestSweep:
    def test_referenced_young_and_unreferenced(self, store: InMemoryPayloadStore) -> None:
        used = store.upload(b"u" * 2000, instance_id="x")
        unused = store.upload(b"n" * 2000, instance_id="gone")
        backend = Backend([_instance("x", used)], {"x": []})
        report, findings = _gc(store, backend, GcSettings(older_than=timedelta(hours=1)))
        assert {(f.info.token, f.verdict, f.action) for f in findings} == {
            (used, "referenced", "kept"),
            (unused, "young", "kept"),
        }
        report, findings = _gc(store, backend)
        assert _actions(findings) == {used: "kept", unused: "deleted"}
        assert [info.token for info in store.list_payloads()] == [used]
        assert report.count("deleted") == 1 and report.unreferenced_bytes > 0

    def test_a_live_writer_that_refers_to_a_payload_again_keeps_it(self, store: InMemoryPayloadStore) -> None:
        """Between the census and the sweep, x's next generation stored the same content: one token, kept."""
        current = store.upload(b"c" * 2000, instance_id="x")
        earlier = store.upload(b"e" * 2000, instance_id="x")
        superseded = store.upload(b"s" * 2000, instance_id="x")
        backend = Backend([_instance("x", current)], {"x": []})
        served = {"n": 0}
        original = backend.GetInstance

        def get_instance(request: pb.GetInstanceRequest, metadata: Any = ()) -> pb.GetInstanceResponse:
            served["n"] += 1
            response = original(request)
            response.orchestrationState.output.value = earlier  # what x refers to by now
            return response

        backend.GetInstance = get_instance  # type: ignore[method-assign]
        _, findings = _gc(store, backend)
        assert served["n"] == 1  # one second look, at the one live writer
        assert _actions(findings) == {current: "kept", earlier: "rescued", superseded: "deleted"}
        assert {info.token for info in store.list_payloads()} == {current, earlier}

    def test_an_empty_census_refuses_unless_forced(self, store: InMemoryPayloadStore) -> None:
        token = store.upload(b"x" * 2000, instance_id="x")
        report, findings = _gc(store, Backend([], {}))
        assert report.refused == (
            "the census found no orchestration and no entity at fake:1 (task hub: none named) "
            "while the store holds 1 payload(s)"
        )
        assert _actions(findings) == {token: "listed"}
        assert len(list(store.list_payloads())) == 1
        report, findings = _gc(
            store, Backend([], {}), GcSettings(older_than=timedelta(0), delete=True, force=True)
        )
        assert report.refused is None and _actions(findings) == {token: "deleted"}

    def test_a_failed_deletion_is_reported_and_the_rest_go_on(self, store: InMemoryPayloadStore) -> None:
        tokens = [store.upload(f"{n}".encode() * 2000, instance_id="gone") for n in range(3)]
        refused = tokens[1]
        delete = store.delete

        def flaky(token: str) -> bool:
            if token == refused:
                raise PayloadStoreRefusedError("delete", token, "403 AuthorizationPermissionMismatch")
            return delete(token)

        store.delete = flaky  # type: ignore[method-assign]
        backend = Backend([_instance("x", "inline")], {"x": []})
        report, findings = _gc(store, backend)
        assert _actions(findings) == {tokens[0]: "deleted", refused: "failed", tokens[2]: "deleted"}
        (failure,) = [f for f in findings if f.action == "failed"]
        assert failure.error is not None and "AuthorizationPermissionMismatch" in failure.error
        assert report.count("failed") == 1

    @pytest.mark.parametrize(
        ("field", "value"), [("older_than", timedelta(seconds=-1)), ("concurrency", 0), ("page_size", 0)]
    )
    def test_settings_are_checked(self, field: str, value: Any) -> None:
        with pytest.raises(ValueError, match=f"GcSettings.{field}"):
            GcSettings(**{field: value})
