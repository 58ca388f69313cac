"""The span of each call a worker holds, from its record's receipt to its result's publish."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .propagation import Headers, context_from_headers, headers_for, record_headers
from .spans import is_sampled, messaging_attributes
from .state import TRACING

__all__ = ["CALLS", "CallSpans", "published"]


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
        if not is_sampled(parent):  # not sampled: pass the decision on, make no span
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
