"""Which span a payload batch belongs to, read from the Durable Task message it works on.

The worker resolves a work item before durabletask opens the activity's or
orchestration's span, and sends the result after that span has closed, so the
current context is usually empty at those points. The work item itself says
where it belongs (the W3C trace context durabletask propagates through the
backend); this module reads it, so that payload spans join the same trace.

Only called with opentelemetry-api installed (see :mod:`._telemetry`).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["carried_context"]

_PROPAGATOR = TraceContextTextMapPropagator()


def carried_context(message: Any, current: trace.SpanContext) -> Context | None:
    """Return the context a payload batch of *message* should be a child of, or None for the current one.

    Args:
        message: The protobuf message being externalized or resolved.
        current: The span context current in the caller (possibly invalid).

    """
    name = message.DESCRIPTOR.name
    if name == "WorkItem":
        kind = message.WhichOneof("request")
        if kind not in ("activityRequest", "orchestratorRequest"):
            return None
        message, name = getattr(message, kind), message.DESCRIPTOR.fields_by_name[kind].message_type.name
    if name == "OrchestratorResponse":
        # It names the orchestration's span (durabletask fixes its id on the first dispatch);
        # the trace is the one the worker runs the work item in, or that of its scheduled tasks.
        trace_id = current.trace_id if current.is_valid else _action_trace_id(message)
        return _in_span(trace_id, _orchestration_span_id(message), current)
    if current.is_valid:
        return None  # durabletask's span (or the caller's own) is current: nest under it
    if name == "ActivityRequest":
        return _from_traceparent(message.parentTraceContext.traceParent)
    if name == "OrchestratorRequest":
        return orchestration_context(message)
    return None


def orchestration_context(request: Any) -> Context | None:
    """Return the context of the orchestration an ``OrchestratorRequest`` belongs to.

    That is its own span once durabletask has fixed its id (from the second
    dispatch on), else the span that started it.
    """
    started = _parent_traceparent(request)
    parent = _from_traceparent(started)
    if parent is None:
        return None
    span_id = _orchestration_span_id(request)
    if span_id is None:
        return parent
    trace_id = trace.get_current_span(parent).get_span_context().trace_id
    return _in_span(trace_id, span_id, trace.INVALID_SPAN_CONTEXT)


def work_item_context(request: Any) -> Context | None:
    """Return the context an activity or orchestrator request runs in, when the backend propagated one."""
    name = request.DESCRIPTOR.name
    if name == "ActivityRequest":
        return _from_traceparent(request.parentTraceContext.traceParent)
    if name == "OrchestratorRequest":
        return orchestration_context(request)
    return None


def _parent_traceparent(request: Any) -> str:
    # executionStarted opens the history (after orchestratorStarted): the loop ends at once.
    for events in (request.pastEvents, request.newEvents):
        for event in events:
            if event.HasField("executionStarted"):
                return str(event.executionStarted.parentTraceContext.traceParent)
    return ""


def _orchestration_span_id(message: Any) -> int | None:
    if not message.HasField("orchestrationTraceContext"):
        return None
    text = message.orchestrationTraceContext.spanID.value
    try:
        span_id = int(text, 16)
    except ValueError:
        return None
    return span_id or None


def _action_trace_id(response: Any) -> int:
    for action in response.actions:
        kind = action.WhichOneof("orchestratorActionType")
        carried = getattr(getattr(action, kind, None), "parentTraceContext", None) if kind else None
        if carried is not None and carried.traceParent:
            parent = _from_traceparent(carried.traceParent)
            if parent is not None:
                return trace.get_current_span(parent).get_span_context().trace_id
    return 0


def _in_span(trace_id: int, span_id: int | None, like: trace.SpanContext) -> Context | None:
    if not trace_id or span_id is None:
        return None
    flags = like.trace_flags if like.is_valid else trace.TraceFlags(trace.TraceFlags.SAMPLED)
    span = trace.NonRecordingSpan(trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=flags))
    return trace.set_span_in_context(span)


def _from_traceparent(traceparent: str) -> Context | None:
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    return context if trace.get_current_span(context).get_span_context().is_valid else None
