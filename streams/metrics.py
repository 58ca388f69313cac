"""Prometheus metrics of a worker, and the observer that feeds them from the executor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from async_toolformer.schemas import DeadLetterReason, ToolCallCompleted

CALLS = Counter("toolformer_calls", "Calls that ended, by tool and status", ["tool", "status"])
CALL_LATENCY = Histogram(
    "toolformer_call_duration_seconds", "From receipt by the worker to the result", ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_WAIT = Histogram(
    "toolformer_queue_wait_seconds", "Time a call waited for its tool's concurrency cap", ["tool"],
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
)
IN_FLIGHT = Gauge("toolformer_calls_in_flight", "Calls received and not yet answered")
DEAD_LETTERS = Counter("toolformer_dead_letters", "Records set aside, by reason", ["reason"])


class PrometheusObserver:
    """The executor's observer that records into the metrics above.

    Labelled children are looked up once per label set: ``labels()`` costs more
    than the observation itself, and it ran three times for every call.
    """

    def __init__(self) -> None:
        self._children: dict[tuple[Any, ...], Any] = {}

    def result(self, result: ToolCallCompleted) -> None:
        self._child(CALLS, result.tool, result.status.value).inc()
        timings = result.timings
        self._child(CALL_LATENCY, result.tool).observe(
            (timings.finished_at - timings.received_at).total_seconds())

    def dead_letter(self, reason: DeadLetterReason) -> None:
        DEAD_LETTERS.labels(reason.value).inc()

    def queue_wait(self, tool: str, seconds: float) -> None:
        self._child(QUEUE_WAIT, tool).observe(seconds)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def watch_in_flight(self, count: Callable[[], int]) -> None:
        """Read the in-flight gauge from ``count`` at each scrape, not on every call."""
        IN_FLIGHT.set_function(count)


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Serve ``/metrics`` on ``port`` (0 picks a free one); return the port bound."""
    server, _thread = start_http_server(port, addr=host)
    bound: int = server.server_port
    return bound
