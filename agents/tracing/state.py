"""Whether spans are made, and by which tracer: one flag every span site reads first."""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import Tracer

__all__ = ["TRACING", "TracingState", "disable", "enable"]


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
