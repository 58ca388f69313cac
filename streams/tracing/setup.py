"""Turning traces on from the standard OTEL_* variables, and off again.

Off unless ``OTEL_TRACES_EXPORTER`` names ``otlp``, ``console`` or ``memory``
(spans counted and dropped in the process: what ``toolformer bench pipeline
--tracing`` measures the span sites with)
(``OTEL_SDK_DISABLED=true`` wins over it): no SDK object is built then, and
the span sites stay behind their one flag. On, the SDK reads the rest itself:
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` and
``..._HEADERS`` (the exporter), ``OTEL_TRACES_SAMPLER`` / ``..._ARG`` (the
sampler; parent-based always-on by default), ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the resource), ``OTEL_BSP_*`` (the batch
processor). Export runs in the SDK's own thread, so a slow or absent collector
costs dropped spans, never a stalled worker.

The endpoint is logged without its userinfo, query or headers: those may carry
a collector's credentials.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Sampler, _get_from_env_or_default

from async_toolformer.agents.tracing import disable, enable
from async_toolformer.streams.exceptions import ConfigurationError

__all__ = ["TRACES_EXPORTERS", "CountingExporter", "TracingSetup", "traced_process",
           "traces_from_env", "tracing_with"]

logger = logging.getLogger(__name__)

TRACES_EXPORTERS = ("none", "otlp", "console", "memory")
_TRACER_NAME = "async_toolformer"


@dataclass
class TracingSetup:
    """A tracer provider made current for the span sites; ``close`` flushes and turns them off."""

    provider: TracerProvider

    def close(self) -> None:
        self.provider.force_flush(5_000)
        self.provider.shutdown()
        disable()


def tracing_with(processor: SpanProcessor, *, service_name: str, group: str | None = None,
                 sampler: Sampler | None = None) -> TracingSetup:
    """Turn traces on with ``processor`` (an in-memory exporter's, say; tests and benchmarks)."""
    resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(processor)
    enable(provider.get_tracer(_TRACER_NAME), group=group)
    return TracingSetup(provider)


def traces_from_env(default_service: str, *, group: str | None = None,
                    environ: Mapping[str, str] | None = None) -> TracingSetup | None:
    """Turn traces on as the OTEL_* variables say; None (and nothing built) when they are off.

    Raises ``ConfigurationError`` for an exporter name it does not know.
    """
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",")
             if n.strip()]
    unknown = [n for n in names if n not in TRACES_EXPORTERS]
    if unknown:
        raise ConfigurationError(
            f"OTEL_TRACES_EXPORTER: {unknown[0][:40]!r} is not one of "
            f"{', '.join(TRACES_EXPORTERS)}")
    if not names or names == ["none"] or "none" in names:
        return None
    service = env.get("OTEL_SERVICE_NAME") or default_service
    setup = None
    for name in names:
        processor: SpanProcessor
        if name == "otlp":
            processor = BatchSpanProcessor(_otlp_exporter())
        elif name == "memory":
            processor = BatchSpanProcessor(CountingExporter())
        else:
            processor = SimpleSpanProcessor(ConsoleSpanExporter())
        if setup is None:
            setup = tracing_with(processor, service_name=service, group=group,
                                 sampler=_sampler())
        else:
            setup.provider.add_span_processor(processor)
    logger.warning("traces on: %s to %s, service %s", ", ".join(names), shown_endpoint(env),
                   service[:100])
    return setup


@contextmanager
def traced_process(default_service: str, *, group: str | None = None) -> Iterator[None]:
    """Traces as the environment says for the length of the block, flushed at its end."""
    setup = traces_from_env(default_service, group=group)
    try:
        yield
    finally:
        if setup is not None:
            setup.close()


class CountingExporter(SpanExporter):
    """Counts the spans it is given and keeps none: the cost of making spans, without a wire."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


def _otlp_exporter() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_*


def _sampler() -> Sampler:
    """The OTEL_TRACES_SAMPLER (and _ARG) sampler; without one, parent-based always-on."""
    return _get_from_env_or_default()


def shown_endpoint(env: Mapping[str, str]) -> str:
    """The OTLP traces endpoint as scheme://host:port/path, without credentials or query."""
    url = (env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
           or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318")
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an endpoint that does not parse)"
    return f"{parts.scheme}://{host}{port}{parts.path}"[:200]
