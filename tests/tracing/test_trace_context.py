"""Trace context from hostile headers, and turning traces on from OTEL_* variables (pure)."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace

from async_toolformer.agents.tracing import (
    MAX_TRACE_HEADER_BYTES,
    TRACING,
    CallSpans,
    context_from_headers,
)
from async_toolformer.streams.exceptions import ConfigurationError
from async_toolformer.streams.tracing.setup import shown_endpoint, traces_from_env

VALID = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def trace_id_of(headers: list[tuple[str, bytes | None]] | None) -> int | None:
    context = context_from_headers(headers)
    return None if context is None else trace.get_current_span(context).get_span_context().trace_id


def test_a_valid_traceparent_is_taken() -> None:
    assert trace_id_of([("traceparent", VALID), ("tracestate", b"k=v")]) == int(
        "0af7651916cd43dd8448eb211c80319c", 16)


@pytest.mark.parametrize("headers", [
    None,
    [],
    [("traceparent", b"00-zz-not-a-trace-01")],
    [("traceparent", b"00-00000000000000000000000000000000-b7ad6b7169203331-01")],
    [("traceparent", VALID + b"-" + b"0" * MAX_TRACE_HEADER_BYTES)],
    [("traceparent", "00-\u00e9".encode() + VALID[4:])],
    [("traceparent", None)],
    [("tracestate", b"k=v")],
    [*(("x", b"y") for _ in range(100)), ("traceparent", VALID)],
    [("TRACEPARENT-ish", VALID)],
])
def test_unusable_context_is_none(headers: list[tuple[str, bytes | None]] | None) -> None:
    assert trace_id_of(headers) is None


def test_call_spans_stay_bounded() -> None:
    spans = CallSpans(max_calls=3)
    tracer = trace.NoOpTracer()
    for number in range(10):
        spans.hold(f"c{number}", "echo", tracer.start_span("x"))
    assert len(spans) == 3
    assert spans.get("c9") is not None
    assert spans.get("c0") is None


@pytest.mark.parametrize("environ", [
    {}, {"OTEL_TRACES_EXPORTER": "none"},
    {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"},
])
def test_off_unless_asked(environ: dict[str, str]) -> None:
    assert traces_from_env("svc", environ=environ) is None
    assert not TRACING.on


def test_an_unknown_exporter_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER: 'jaeger' is not one of"):
        traces_from_env("svc", environ={"OTEL_TRACES_EXPORTER": "jaeger"})


def test_the_endpoint_is_shown_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    url = "https://user:hunter2@collector.example:4318/v1/traces?token=s3cret"
    assert shown_endpoint({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url}) == (
        "https://collector.example:4318/v1/traces")
    caplog.set_level(logging.WARNING)
    setup = traces_from_env("svc", environ={"OTEL_TRACES_EXPORTER": "otlp",
                                            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url})
    assert setup is not None
    try:
        assert TRACING.on
        assert "collector.example:4318" in caplog.text
        assert "hunter2" not in caplog.text
        assert "s3cret" not in caplog.text
    finally:
        setup.close()
    assert not TRACING.on


def test_an_unsampled_call_passes_its_decision_on_and_records_nothing() -> None:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    from async_toolformer.agents.tracing import bind_span, spans_between
    from async_toolformer.streams.tracing import tracing_with

    class Record:
        topic, partition, offset, headers = "calls", 0, 7, None

    exporter = InMemorySpanExporter()
    setup = tracing_with(SimpleSpanProcessor(exporter), service_name="t", sampler=ALWAYS_OFF)
    try:
        spans = CallSpans()
        span = spans.received(Record())
        spans.hold("c1", "echo", span)
        assert bind_span(span) is None
        spans_between("admit", [span], 0)
        sending = spans.publishing("c1", "results")
        assert sending is not None
        [(name, value)] = sending[0]
        assert name == "traceparent"
        assert int(value[-2:], 16) & 1 == 0  # the sampled flag is off, downstream too
    finally:
        setup.close()
    assert exporter.get_finished_spans() == ()


def test_agents_use_only_the_opentelemetry_api() -> None:
    """The SDK and exporters are set up in streams/tracing; agents/ stays free of them."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "agents"
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(path.name, n) for n in names
                      if n.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))]
    assert found == []
