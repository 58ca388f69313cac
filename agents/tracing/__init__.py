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

Context is carried explicitly, record by record, rather than by an aiokafka
instrumentation: one producer serves every call in flight (and sends a fetch's
results as one batch), and the worker consumes through Faust's consumer and
its tap, so neither a send nor a fetch belongs to one call.
"""

from async_toolformer.agents.tracing.calls import CALLS, CallSpans, published
from async_toolformer.agents.tracing.propagation import (
    MAX_TRACE_HEADER_BYTES,
    Headers,
    context_from_headers,
    current_headers,
    headers_for,
    record_headers,
)
from async_toolformer.agents.tracing.spans import (
    MAX_TRACED_SESSIONS,
    MAX_TURN_LINKS,
    attempt_ended,
    attempt_started,
    bind_span,
    consumed,
    link_turn,
    messaging_attributes,
    sampled_ids,
    sending,
    session_started,
    spans_between,
    turn_started,
    unbind_span,
)
from async_toolformer.agents.tracing.state import TRACING, TracingState, disable, enable

__all__ = [
    "CALLS", "MAX_TRACED_SESSIONS", "MAX_TRACE_HEADER_BYTES", "MAX_TURN_LINKS", "TRACING",
    "CallSpans", "Headers", "TracingState", "attempt_ended", "attempt_started", "bind_span",
    "consumed", "context_from_headers", "current_headers", "disable", "enable", "headers_for",
    "link_turn", "messaging_attributes", "published", "record_headers", "sampled_ids",
    "sending", "session_started", "spans_between", "turn_started", "unbind_span",
]
