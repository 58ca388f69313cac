"""The call tally renders the same families prometheus-client's own counter and histogram would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from async_toolformer.streams.worker.metrics import CallTally


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
