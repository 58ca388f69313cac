"""Setting up OpenTelemetry's SDK for a process: the OTLP/HTTP exporter from OTEL_* variables.

The span sites live in :mod:`async_toolformer.agents.tracing` and use only the
API; this package decides whether they record and where spans go.
"""

from async_toolformer.streams.tracing.setup import (
    TRACES_EXPORTERS,
    TracingSetup,
    traced_process,
    traces_from_env,
    tracing_with,
)

__all__ = ["TRACES_EXPORTERS", "TracingSetup", "traced_process", "traces_from_env", "tracing_with"]
