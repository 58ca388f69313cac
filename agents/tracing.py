"""Traces of calls and model turns through the OpenTelemetry API; nothing at all when off.

Tracing is off until the host turns it on (``streams/tracing`` sets up the SDK
and calls :func:`enable`). Every span site checks ``TRACING.on`` first, one
attribute read, so an untraced worker creates no span, parses no header and
adds none.

W3C trace context (``traceparent``, ``tracestate``) travels in Kafka record
headers. Headers come from any producer, so they are bounded before the
propagator sees them: a record whose headers are too many, too long or not
ASCII is traced as a new trace, never refused for it. Span and attribute names
follow OpenTelemetry's messaging and GenAI semantic conventions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "CALLS", "MAX_TRACED_SESSIONS", "MAX_TRACE_HEADER_BYTES", "TRACING", "CallSpans", "Headers",
    "TracingState", "attempt_ended", "attempt_started", "bind_span", "consumed",
    "context_from_headers", "current_headers", "disable", "enable", "headers_for", "linked",
    "messaging_attributes", "published", "record_headers", "sampled_ids", "sending",
    "session_started",
    "spans_between", "turn_started", "unbind_span",
]

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka takes and gives them."""

MAX_TRACE_HEADER_BYTES = 512  # a traceparent is 55; W3C caps tracestate at 32 members
MAX_HEADERS_SCANNED = 64  # headers of a record looked at for trace context
MAX_TRACED_SESSIONS = 100_000  # open sessions whose span a worker keeps for their turns
_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(slots=True)
class TracingState:
    """Whether spans are made, and by which tracer: set once when the process starts."""

    on: bool = False
    tracer: Tracer = field(default_factory=trace.NoOpTracer)
    group: str | None = None  # the consumer group, for messaging.consumer.group.name


TRACING = TracingState()


def enable(tracer: Tracer, *, group: str | None = None) -> None:
    """Make spans with ``tracer`` from now on."""
    TRACING.tracer = tracer
    TRACING.group = group
    TRACING.on = True


def disable() -> None:
    TRACING.on = False
    TRACING.tracer = trace.NoOpTracer()
    TRACING.group = None


def context_from_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> Context | None:
    """The trace context a record's headers carry, or None (absent, malformed, oversized)."""
    if not headers:
        return None
    carrier: dict[str, str] = {}
    for index, (name, value) in enumerate(headers):
        if index >= MAX_HEADERS_SCANNED:
            break
        if (name in _TRACE_HEADERS and isinstance(value, bytes)
                and len(value) <= MAX_TRACE_HEADER_BYTES and value.isascii()):
            carrier[name] = value.decode("ascii")
    if "traceparent" not in carrier:
        return None
    context = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def record_headers(record: Any) -> Any:
    """The headers of a consumed record: aiokafka's and Faust's records have them, the
    tap's fetched records hold the aiokafka record they came in (``record.record``)."""
    headers = getattr(record, "headers", None)
    if headers is None:
        headers = getattr(getattr(record, "record", None), "headers", None)
    return headers


def headers_for(span: Span) -> Headers:
    """The headers that make ``span`` the parent of whatever consumes the record."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return [(name, value.encode("ascii")) for name, value in carrier.items()]


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


def _sampled(span: Span) -> bool:
    """Whether spans under ``span`` are recorded (its trace was sampled)."""
    return bool(span.get_span_context().trace_flags.sampled)


def bind_span(span: Span | None) -> object | None:
    """Make ``span`` current in this task (its log lines carry its ids); undo with unbind_span.

    A span that is not recording (not sampled) is left out: nothing would go under it.
    """
    if span is None or not _sampled(span):
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
        if parent is None or not _sampled(parent):
            continue
        span = tracer.start_span(name, context=trace.set_span_in_context(parent),
                                 start_time=start_ns, attributes=attributes)
        span.end(end_time=end_ns)


def attempt_started(tool: str, attempt: int) -> Span | None:
    """A span for one attempt of a tool, under the current span (the call's); None when off
    or when the call is not sampled."""
    if not TRACING.on or not _sampled(trace.get_current_span()):
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


class CallSpans:
    """The span of each call a worker holds, from its record's receipt to its result's publish.

    Bounded: past ``max_calls`` the oldest span is ended (its call ran out of
    this worker's sight: revoked, shut down) so a worker that never publishes
    some results does not grow.
    """

    def __init__(self, max_calls: int = 100_000) -> None:
        self._spans: dict[str, Span] = {}
        self._max_calls = max_calls

    def received(self, record: Any) -> Span:
        """Start the span of a consumed ``calls`` record, under the trace its headers carry."""
        parent = context_from_headers(record_headers(record))
        span = TRACING.tracer.start_span(
            f"process {record.topic}", context=parent if parent is not None else Context(),
            kind=SpanKind.CONSUMER)
        if span.is_recording():  # an unsampled call costs no attributes
            span.set_attributes(messaging_attributes("process", record.topic, record.partition,
                                                     record.offset))
        return span

    def hold(self, call_id: str | None, tool: str | None, span: Span) -> None:
        """Keep ``span`` until the result of ``call_id`` is published; end it if nameless."""
        if call_id is None:
            span.end()
            return
        if not span.is_recording():
            self._keep(call_id, span)
            return
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.call.id", call_id)
        if tool is not None:
            span.set_attribute("gen_ai.tool.name", tool)
            span.update_name(f"execute_tool {tool}")
        self._keep(call_id, span)

    def _keep(self, call_id: str, span: Span) -> None:
        if call_id in self._spans:  # a redelivered duplicate: the first one's span stays
            span.set_attribute("toolformer.duplicate", True)
            span.end()
            return
        if len(self._spans) >= self._max_calls:
            oldest = next(iter(self._spans))
            self._spans.pop(oldest).end()
        self._spans[call_id] = span

    def get(self, call_id: str) -> Span | None:
        return self._spans.get(call_id)

    def publishing(self, call_id: str, topic: str) -> tuple[Headers, list[Span]] | None:
        """Start the send span of ``call_id``'s result: the headers to publish it with and
        the spans to end once the broker has it (:func:`published`); None if untraced."""
        parent = self._spans.pop(call_id, None)
        if parent is None:
            return None
        if not _sampled(parent):  # not sampled: pass the decision on, make no span
            return headers_for(parent), [parent]
        send = TRACING.tracer.start_span(
            f"send {topic}", context=trace.set_span_in_context(parent), kind=SpanKind.PRODUCER,
            attributes=messaging_attributes("send", topic))
        return headers_for(send), [send, parent]

    def __len__(self) -> int:
        return len(self._spans)


def published(spans: Iterable[Span], refused: bool = False) -> None:
    """End the spans of a publish (:meth:`CallSpans.publishing`), in error if it was refused."""
    for span in spans:
        if refused:
            span.set_status(Status(StatusCode.ERROR, "refused by the broker"))
        span.end()


CALLS = CallSpans()
"""The worker's call spans (one executor per process)."""


def consumed(record: Any, value: object) -> None:
    """A span for a record a client or agent takes, under the trace its headers carry."""
    parent = context_from_headers(record_headers(record))
    attributes = messaging_attributes("process", record.topic, record.partition, record.offset)
    call_id = getattr(value, "call_id", None)
    if isinstance(call_id, str):
        attributes["gen_ai.tool.call.id"] = call_id
    TRACING.tracer.start_span(
        f"process {record.topic}", context=parent if parent is not None else Context(),
        kind=SpanKind.CONSUMER, attributes=attributes).end()


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
    """A span for one model turn under the current context (the session's)."""
    return TRACING.tracer.start_span(
        f"chat {model}", kind=SpanKind.CLIENT,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                    "gen_ai.request.model": model, "toolformer.turn": turn})


def current_headers() -> Headers | None:
    """Headers carrying the current span's context, or None when there is none."""
    span = trace.get_current_span()
    return headers_for(span) if span.get_span_context().is_valid else None


def sampled_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span as hex, if it is sampled; for exemplars."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def linked(context: Context | None) -> list[Link]:
    """A link to the span of ``context``, if it has one."""
    if context is None:
        return []
    return [Link(trace.get_current_span(context).get_span_context())]
