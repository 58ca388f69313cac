"""W3C trace context in Kafka record headers, read with bounds: headers come from anyone.

A record whose headers are too many, too long or not ASCII is traced as a new
trace, never refused for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["MAX_HEADERS_SCANNED", "MAX_TRACE_HEADER_BYTES", "Headers", "context_from_headers",
           "current_headers", "headers_for", "record_headers"]

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka takes and gives them."""

MAX_TRACE_HEADER_BYTES = 512  # a traceparent is 55; W3C caps tracestate at 32 members
MAX_HEADERS_SCANNED = 64  # headers of a record looked at for trace context
_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
_PROPAGATOR = TraceContextTextMapPropagator()


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


def current_headers() -> Headers | None:
    """Headers carrying the current span's context, or None when there is none."""
    span = trace.get_current_span()
    return headers_for(span) if span.get_span_context().is_valid else None
