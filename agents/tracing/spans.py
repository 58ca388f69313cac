"""The span sites' helpers: messaging and GenAI attributes, spans of a batch, of an attempt,
of a model turn, of a record sent or taken; the current span for logs and exemplars."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode

from .propagation import context_from_headers, record_headers
from .state import TRACING

__all__ = ["MAX_TRACED_SESSIONS", "MAX_TURN_LINKS", "attempt_ended", "attempt_started",
           "bind_span", "consumed", "is_sampled", "link_turn", "messaging_attributes",
           "sampled_ids", "sending", "session_started", "spans_between", "turn_started",
           "unbind_span"]

MAX_TRACED_SESSIONS = 100_000  # open sessions whose span a worker keeps for their turns
MAX_TURN_LINKS = 64  # results a turn's span links to (the rest go unlinked)
_turn_links: ContextVar[tuple[SpanContext, ...]] = ContextVar("toolformer_turn_links",
                                                              default=())


def messaging_attributes(operation: str, topic: str, partition: int | None = None,
                         offset: int | None = None) -> dict[str, Any]:
    """The messaging semantic-convention attributes of one Kafka record."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": operation,
        "messaging.destination.name": topic,
    }
    if partition is not None:
        attributes["messaging.destination.partition.id"] = str(partition)
    if offset is not None:
        attributes["messaging.kafka.offset"] = offset
    if operation in ("process", "receive") and TRACING.group is not None:
        attributes["messaging.consumer.group.name"] = TRACING.group
    return attributes


def is_sampled(span: Span) -> bool:
    """Whether spans under ``span`` are recorded (its trace was sampled)."""
    return bool(span.get_span_context().trace_flags.sampled)


def bind_span(span: Span | None) -> object | None:
    """Make ``span`` current in this task (its log lines carry its ids); undo with unbind_span.

    A span that is not recording (not sampled) is left out: nothing would go under it.
    """
    if span is None or not is_sampled(span):
        return None
    return otel_context.attach(trace.set_span_in_context(span))


def unbind_span(token: object | None) -> None:
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def spans_between(name: str, parents: Sequence[Span | None], start_ns: int,
                  attributes: dict[str, Any] | None = None) -> None:
    """One span per call of a batch, each under its call's span, all from ``start_ns`` to now.

    A round trip made for a whole batch (the ledger's claim, the limiter's
    admission) shows in each call's trace without a span open while it runs.
    """
    end_ns = time.time_ns()
    tracer = TRACING.tracer
    for parent in parents:
        if parent is None or not is_sampled(parent):
            continue
        span = tracer.start_span(name, context=trace.set_span_in_context(parent),
                                 start_time=start_ns, attributes=attributes)
        span.end(end_time=end_ns)


def attempt_started(tool: str, attempt: int) -> Span | None:
    """A span for one attempt of a tool, under the current span (the call's); None when off
    or when the call is not sampled."""
    if not TRACING.on or not is_sampled(trace.get_current_span()):
        return None
    return TRACING.tracer.start_span(
        f"execute_tool {tool}", kind=SpanKind.INTERNAL,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                    "toolformer.attempt": attempt})


def attempt_ended(span: Span | None, error: BaseException | None = None) -> None:
    if span is None:
        return
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.set_attribute("error.type", type(error).__name__)
    span.end()


def consumed(record: Any, value: object) -> Span:
    """A span for a record a client or agent takes, under the trace its headers carry."""
    parent = context_from_headers(record_headers(record))
    attributes = messaging_attributes("process", record.topic, record.partition, record.offset)
    call_id = getattr(value, "call_id", None)
    if isinstance(call_id, str):
        attributes["gen_ai.tool.call.id"] = call_id
    span = TRACING.tracer.start_span(
        f"process {record.topic}", context=parent if parent is not None else Context(),
        kind=SpanKind.CONSUMER, attributes=attributes)
    span.end()
    return span


def sending(topic: str, attributes: dict[str, Any] | None = None) -> Span:
    """A send span under the current context (a caller's own span, if any); end it once
    the broker has the record, whose headers are :func:`headers_for` it."""
    merged = messaging_attributes("send", topic)
    if attributes:
        merged.update(attributes)
    return TRACING.tracer.start_span(f"send {topic}", kind=SpanKind.PRODUCER, attributes=merged)


def session_started(record: Any, session_id: str) -> Span:
    """The span under which a session's model turns run: its request record's, continued
    from the trace the record's headers carry (a new trace without)."""
    parent = context_from_headers(record_headers(record))
    attributes = messaging_attributes("process", record.topic, record.partition, record.offset)
    attributes["gen_ai.conversation.id"] = session_id
    span = TRACING.tracer.start_span(
        f"process {record.topic}", context=parent if parent is not None else Context(),
        kind=SpanKind.CONSUMER, attributes=attributes)
    span.end()
    return span


def turn_started(provider: str, model: str, turn: int) -> Span:
    """A span for one model turn under the current context (the session's), linked to the
    results the session took since its last turn (:func:`link_turn`)."""
    return TRACING.tracer.start_span(
        f"chat {model}", kind=SpanKind.CLIENT, links=[Link(c) for c in _turn_links.get()],
        attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                    "gen_ai.request.model": model, "toolformer.turn": turn})


def link_turn(contexts: Sequence[SpanContext]) -> None:
    """The next turn started in this context links to ``contexts`` (results it answers)."""
    _turn_links.set(tuple(contexts[-MAX_TURN_LINKS:]))


def sampled_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as hex, if it is sampled; for exemplars."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
