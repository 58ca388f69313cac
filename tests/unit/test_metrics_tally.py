"""The call tally renders the same families prometheus-client's own counter and histogram
would, and every metric lands on the registry its worker or limiter was given."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from async_toolformer.agents.executor import Sealed
from async_toolformer.schemas import CallStatus, DeadLetterReason
from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics
from async_toolformer.streams.worker.metrics import CallTally, PrometheusObserver, WorkerMetrics


def _exposition(tally: CallTally) -> str:
    registry = CollectorRegistry()
    registry.register(tally)
    return generate_latest(registry).decode()


def test_counts_calls_by_tool_and_status() -> None:
    tally = CallTally(buckets=(0.1, 1.0))
    for status in ("ok", "ok", "error"):
        tally.count("echo", status, 0.05)
    tally.count("sleep", "timeout", 2.0)
    text = _exposition(tally)
    assert 'toolformer_calls_total{status="ok",tool="echo"} 2.0' in text
    assert 'toolformer_calls_total{status="error",tool="echo"} 1.0' in text
    assert 'toolformer_calls_total{status="timeout",tool="sleep"} 1.0' in text


def test_latency_buckets_are_cumulative_and_inclusive_of_their_bound() -> None:
    tally = CallTally(buckets=(0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 3.0):
        tally.count("echo", "ok", seconds)
    text = _exposition(tally)
    assert 'toolformer_call_duration_seconds_bucket{le="0.1",tool="echo"} 2.0' in text
    assert 'toolformer_call_duration_seconds_bucket{le="1.0",tool="echo"} 3.0' in text
    assert 'toolformer_call_duration_seconds_bucket{le="+Inf",tool="echo"} 4.0' in text
    assert 'toolformer_call_duration_seconds_count{tool="echo"} 4.0' in text
    assert 'toolformer_call_duration_seconds_sum{tool="echo"} 3.65' in text


def test_nothing_counted_renders_empty_families() -> None:
    text = _exposition(CallTally())
    assert "# TYPE toolformer_calls_total counter" in text
    assert "toolformer_calls_total{" not in text


def _sealed(tool: str, status: CallStatus, seconds: float) -> Sealed:
    return Sealed(b"{}", "s", tool, status, seconds, lambda: pytest.fail("not decoded"))


def test_each_worker_records_into_the_registry_it_was_given() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    observer = PrometheusObserver(WorkerMetrics(first))
    PrometheusObserver(WorkerMetrics(second))  # a second worker in the same process
    observer.result(_sealed("echo", CallStatus.OK, 0.01))
    observer.dead_letter(DeadLetterReason.TOO_LARGE)
    observer.queue_wait("echo", 0.002)
    observer.watch_in_flight(lambda: 7)
    assert first.get_sample_value("toolformer_calls_total",
                                  {"tool": "echo", "status": "ok"}) == 1
    assert first.get_sample_value("toolformer_dead_letters_total", {"reason": "too_large"}) == 1
    assert first.get_sample_value("toolformer_queue_wait_seconds_count", {"tool": "echo"}) == 1
    assert first.get_sample_value("toolformer_calls_in_flight") == 7
    assert second.get_sample_value("toolformer_calls_total",
                                   {"tool": "echo", "status": "ok"}) is None
    assert second.get_sample_value("toolformer_dead_letters_total",
                                   {"reason": "too_large"}) is None
    assert second.get_sample_value("toolformer_calls_in_flight") == 0
    assert REGISTRY.get_sample_value("toolformer_calls_in_flight") is None  # never the default


def test_the_limiters_metrics_keep_their_names_on_the_registry_given() -> None:
    registry = CollectorRegistry()
    metrics = LimiterMetrics(registry)
    metrics.decisions.labels("steady", "admitted", "redis").inc()
    metrics.set_mode("local")
    assert registry.get_sample_value("toolformer_ratelimit_decisions_total", {
        "limit": "steady", "outcome": "admitted", "source": "redis"}) == 1
    assert registry.get_sample_value("toolformer_ratelimit_mode", {"mode": "local"}) == 1
    assert registry.get_sample_value("toolformer_ratelimit_mode", {"mode": "redis"}) == 0
    assert LimiterMetrics().registry is not LimiterMetrics().registry
    assert REGISTRY.get_sample_value("toolformer_ratelimit_mode", {"mode": "local"}) is None
