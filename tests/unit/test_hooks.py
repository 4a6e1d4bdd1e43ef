"""The interceptors' rules, without gRPC: what happens to each message, and on failure."""

from __future__ import annotations

from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import PayloadNotFoundError, PayloadTooLargeError
from durabletask_payloads._hooks import UNRESOLVED_NAME, Hooks, method_name, scope_of


def _activity_item() -> pb.WorkItem:
    item = pb.WorkItem(completionToken="7")
    request = item.activityRequest
    request.name = "charge_card"
    request.taskId = 3
    request.orchestrationInstance.instanceId = "order-1"
    request.input.value = "blob:v1:c:" + "0" * 32
    return item


def _orchestration_item() -> pb.WorkItem:
    item = pb.WorkItem(completionToken="8")
    request = item.orchestratorRequest
    request.instanceId = "order-1"
    started = request.pastEvents.add()
    started.orchestratorStarted.SetInParent()
    started.timestamp.seconds = 1_700_000_000
    execution = request.pastEvents.add().executionStarted
    execution.name = "process_order"
    execution.version.value = "2.0"
    execution.input.value = "blob:v1:c:" + "1" * 32
    execution.orchestrationInstance.instanceId = "order-1"
    request.newEvents.add().taskCompleted.result.value = "blob:v1:c:" + "2" * 32
    return item


def _entity_item() -> pb.WorkItem:
    item = pb.WorkItem(completionToken="9")
    request = item.entityRequestV2
    request.instanceId = "@cart@user-1"
    request.entityState.value = "blob:v1:c:" + "3" * 32
    call = request.operationRequests.add().entityOperationCalled
    call.requestId = "r1"
    call.operation = "add"
    call.input.value = "blob:v1:c:" + "4" * 32
    return item


class TestRouting:
    def test_only_the_sidecar_service_is_handled(self) -> None:
        assert method_name("/TaskHubSidecarService/StartInstance") == "StartInstance"
        assert method_name(b"/TaskHubSidecarService/GetWorkItems") == "GetWorkItems"
        assert method_name("/other.Service/StartInstance") is None

    def test_scope_comes_from_the_message(self) -> None:
        assert scope_of(pb.CreateInstanceRequest(instanceId="a")) == "a"
        assert (
            scope_of(pb.ActivityRequest(orchestrationInstance=pb.OrchestrationInstance(instanceId="b")))
            == "b"
        )
        assert scope_of(pb.EntityBatchResult()) is None

    def test_work_item_requests_advertise_large_payloads_once(self) -> None:
        hooks = Hooks()
        request = pb.GetWorkItemsRequest(capabilities=[pb.WORKER_CAPABILITY_HISTORY_STREAMING])
        hooks.plan_send("GetWorkItems", request)
        hooks.plan_send("GetWorkItems", request)
        assert list(request.capabilities) == [
            pb.WORKER_CAPABILITY_HISTORY_STREAMING,
            pb.WORKER_CAPABILITY_LARGE_PAYLOADS,
        ]

    def test_client_requests_are_externalized_and_not_completions(self) -> None:
        plan = Hooks().plan_send("StartInstance", pb.CreateInstanceRequest(instanceId="a"))
        assert (plan.externalize, plan.scope, plan.completion) == (True, "a", None)


class TestPoisonedWorkItems:
    def test_activity_runs_no_user_code_and_its_answer_becomes_our_failure(self) -> None:
        hooks = Hooks()
        item = _activity_item()
        hooks.poison(item, PayloadNotFoundError(item.activityRequest.input.value))
        assert item.activityRequest.name == UNRESOLVED_NAME
        assert not item.activityRequest.HasField("input")

        worker_answer = pb.ActivityResponse(instanceId="order-1", taskId=3, completionToken="7")
        worker_answer.failureDetails.errorType = "ActivityNotRegisteredError"
        plan = hooks.plan_send("CompleteActivityTask", worker_answer)
        sent = plan.replacement
        assert isinstance(sent, pb.ActivityResponse)
        assert (sent.instanceId, sent.taskId, sent.completionToken) == ("order-1", 3, "7")
        assert sent.failureDetails.errorType == "durabletask_payloads.PayloadNotFoundError"
        assert "blob:v1:c:" + "0" * 32 in sent.failureDetails.errorMessage
        assert sent.failureDetails.isNonRetriable

    def test_orchestration_gets_a_one_step_history_with_the_same_version(self) -> None:
        hooks = Hooks()
        item = _orchestration_item()
        hooks.poison(item, PayloadNotFoundError("blob:v1:c:" + "2" * 32))
        request = item.orchestratorRequest
        assert len(request.pastEvents) == 0
        first, second = request.newEvents
        assert first.HasField("orchestratorStarted")
        assert first.timestamp.seconds == 1_700_000_000
        started = second.executionStarted
        assert (started.name, started.version.value) == (UNRESOLVED_NAME, "2.0")
        assert started.orchestrationInstance.instanceId == "order-1"
        assert not started.HasField("input")

        answer = pb.OrchestratorResponse(instanceId="order-1", completionToken="8")
        answer.actions.add(id=-1).completeOrchestration.orchestrationStatus = pb.ORCHESTRATION_STATUS_FAILED
        sent = hooks.plan_send("CompleteOrchestratorTask", answer).replacement
        assert isinstance(sent, pb.OrchestratorResponse)
        (action,) = sent.actions
        complete = action.completeOrchestration
        assert complete.orchestrationStatus == pb.ORCHESTRATION_STATUS_FAILED
        assert complete.failureDetails.isNonRetriable
        assert "2" * 32 in complete.failureDetails.errorMessage

    def test_entity_operations_fail_and_the_state_is_kept_as_it_arrived(self) -> None:
        hooks = Hooks()
        item = _entity_item()
        state = item.entityRequestV2.entityState.value
        hooks.admit(item)
        hooks.poison(item, PayloadNotFoundError(state))
        request = item.entityRequestV2
        assert request.instanceId == f"@{UNRESOLVED_NAME}@user-1"
        assert not request.HasField("entityState")
        assert not request.operationRequests[0].entityOperationCalled.HasField("input")

        answer = pb.EntityBatchResult(completionToken="9")
        answer.results.add().failure.failureDetails.errorType = "EntityNotRegisteredError"
        answer.operationInfos.add(requestId="r1")
        answer.entityState.value = "whatever the worker says"
        sent = hooks.plan_send("CompleteEntityTask", answer).replacement
        assert isinstance(sent, pb.EntityBatchResult)
        assert sent.entityState.value == state
        assert [r.failure.failureDetails.errorType for r in sent.results] == [
            "durabletask_payloads.PayloadNotFoundError"
        ]
        assert [i.requestId for i in sent.operationInfos] == ["r1"]
        assert not sent.actions

    def test_unexpected_errors_fail_without_quoting_their_text(self) -> None:
        hooks = Hooks()
        item = _activity_item()
        hooks.poison(item, RuntimeError("secret payload text"))
        answer = pb.ActivityResponse(instanceId="order-1", taskId=3, completionToken="7")
        sent = hooks.plan_send("CompleteActivityTask", answer).replacement
        assert isinstance(sent, pb.ActivityResponse)
        assert "RuntimeError" in sent.failureDetails.errorMessage
        assert "secret payload text" not in sent.failureDetails.errorMessage

    def test_an_abandoned_item_is_forgotten(self) -> None:
        hooks = Hooks()
        item = _activity_item()
        hooks.poison(item, PayloadNotFoundError("t"))
        hooks.plan_send("AbandonTaskActivityWorkItem", pb.AbandonActivityTaskRequest(completionToken="7"))
        answer = pb.ActivityResponse(instanceId="order-1", taskId=3, completionToken="7")
        assert hooks.plan_send("CompleteActivityTask", answer).replacement is None


class TestFailedCompletions:
    def test_activity_result_too_large(self) -> None:
        hooks = Hooks()
        request = pb.ActivityResponse(instanceId="i", taskId=4, completionToken="c")
        request.result.value = "x"
        plan = hooks.plan_send("CompleteActivityTask", request)
        assert plan.completion == "CompleteActivityTask"
        sent = hooks.failed_completion(plan.completion, request, plan.entry, PayloadTooLargeError(11, 10))
        assert isinstance(sent, pb.ActivityResponse)
        assert not sent.HasField("result")
        assert sent.failureDetails.isNonRetriable
        assert "11 bytes exceeds the limit of 10 bytes" in sent.failureDetails.errorMessage

    def test_entity_state_too_large_keeps_the_previous_state(self) -> None:
        hooks = Hooks()
        item = _entity_item()
        hooks.admit(item)
        result = pb.EntityBatchResult(completionToken="9")
        result.results.add().success.result.value = "ok"
        result.entityState.value = "y" * 100
        result.actions.add().sendSignal.name = "other"
        plan = hooks.plan_send("CompleteEntityTask", result)
        assert plan.scope == "@cart@user-1"
        sent = hooks.failed_completion(
            "CompleteEntityTask", result, plan.entry, PayloadTooLargeError(100, 10)
        )
        assert isinstance(sent, pb.EntityBatchResult)
        assert sent.entityState.value == "blob:v1:c:" + "3" * 32
        assert sent.results[0].HasField("failure")
        assert not sent.actions

    def test_entity_failure_without_a_record_fails_the_batch_instead_of_wiping_state(self) -> None:
        hooks = Hooks()
        result = pb.EntityBatchResult(completionToken="unknown")
        result.results.add()
        sent = hooks.failed_completion("CompleteEntityTask", result, None, PayloadTooLargeError(2, 1))
        assert isinstance(sent, pb.EntityBatchResult)
        assert sent.HasField("failureDetails")
        assert not sent.HasField("entityState")
