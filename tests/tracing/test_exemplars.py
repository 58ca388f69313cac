"""The call latency histogram links to traces: exemplars on OpenMetrics scrapes, none without."""

from __future__ import annotations

import asyncio
import urllib.request

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from async_toolformer.agents.executor import Sealed
from async_toolformer.agents.tracing import TRACING, bind_span, unbind_span
from async_toolformer.schemas import CallStatus
from async_toolformer.streams.tracing import tracing_with
from async_toolformer.streams.worker.metrics import (
    PrometheusObserver,
    WorkerMetrics,
    serve_metrics,
)

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def sealed(tool: str, seconds: float) -> Sealed:
    def unused() -> object:
        raise AssertionError("the observer needs no model")

    return Sealed(b"{}", "s1", tool, CallStatus.OK, seconds, unused)  # type: ignore[arg-type]


def scrape(port: int, accept: str | None) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if accept is not None:
        request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


async def test_a_traced_call_is_its_latency_buckets_exemplar() -> None:
    registry = CollectorRegistry()
    observer = PrometheusObserver(WorkerMetrics(registry))
    observer.result(sealed("echo", 0.003))  # untraced: counted, no exemplar
    setup = tracing_with(SimpleSpanProcessor(InMemorySpanExporter()), service_name="tests")
    try:
        span = TRACING.tracer.start_span("process calls")
        token = bind_span(span)
        observer.result(sealed("echo", 0.2))
        unbind_span(token)
        span.end()
    finally:
        setup.close()
    trace_id = format(span.get_span_context().trace_id, "032x")
    span_id = format(span.get_span_context().span_id, "016x")
    server = serve_metrics(registry, 0)
    try:
        openmetrics = await asyncio.to_thread(scrape, server.port, OPENMETRICS)
        plain = await asyncio.to_thread(scrape, server.port, None)
    finally:
        await asyncio.to_thread(server.close)
    [line] = [line for line in openmetrics.splitlines() if " # {" in line]
    assert line.startswith('toolformer_call_duration_seconds_bucket{le="0.25",tool="echo"} 2.0')
    assert f'trace_id="{trace_id}"' in line
    assert f'span_id="{span_id}"' in line
    assert "toolformer_call_duration_seconds_count" in plain
    assert "trace_id" not in plain  # the Prometheus text format has no exemplars
