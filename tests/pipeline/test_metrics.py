"""A worker's ``/metrics`` counts exactly its own calls, by tool and status, and dead letters.

Each worker records into its own registry, so these counts are exact however
many other workers the test process has run.
"""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from async_toolformer.schemas import ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(port: int | None) -> Samples:
    assert port is not None
    url = f"http://127.0.0.1:{port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples}


def _named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (found, labels), value in samples.items() if found == name}


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def test_metrics_endpoint_counts_exactly_this_workers_calls(
        pipeline_factory: PipelineFactory) -> None:
    pipe = await pipeline_factory(metrics_port=0)
    results = await pipe.client.run([
        ToolCallRequested(call_id="m-ok-1", session_id="metrics", tool="echo"),
        ToolCallRequested(call_id="m-ok-2", session_id="metrics", tool="echo"),
        ToolCallRequested(call_id="m-slow", session_id="metrics", tool="hangs"),
        ToolCallRequested(call_id="m-bad", session_id="metrics", tool="no_such_tool"),
    ], timeout_s=30)
    assert [r.status.value for r in results] == ["ok", "ok", "timeout", "rejected"]
    samples = await _scrape(pipe.worker.metrics_port)

    assert _named(samples, "toolformer_calls_total") == {
        _labels(tool="echo", status="ok"): 2, _labels(tool="hangs", status="timeout"): 1,
        _labels(tool="no_such_tool", status="rejected"): 1}
    assert _named(samples, "toolformer_dead_letters_total") == {
        _labels(reason="unknown_tool"): 1}
    assert _named(samples, "toolformer_call_duration_seconds_count") == {
        _labels(tool="echo"): 2, _labels(tool="hangs"): 1, _labels(tool="no_such_tool"): 1}
    assert samples["toolformer_call_duration_seconds_bucket",
                   _labels(tool="hangs", le="0.1")] == 0  # it ran into its 0.2 s timeout
    assert samples["toolformer_calls_in_flight", frozenset()] == 0
    assert samples["toolformer_ratelimit_mode", _labels(mode="redis")] == 1
    assert samples["process_cpu_seconds_total", frozenset()] > 0  # as the default registry had
    # the endpoint serves the registry the worker was given, the one the host reads
    assert pipe.worker.metrics_registry.get_sample_value(
        "toolformer_calls_total", {"tool": "echo", "status": "ok"}) == 2


async def test_two_workers_in_one_process_count_apart(pipeline_factory: PipelineFactory) -> None:
    busy = await pipeline_factory()
    idle = await pipeline_factory()
    await busy.client.run([ToolCallRequested(call_id="apart", session_id="m", tool="echo")],
                          timeout_s=30)
    assert busy.worker.metrics_registry.get_sample_value(
        "toolformer_calls_total", {"tool": "echo", "status": "ok"}) == 1
    assert idle.worker.metrics_registry.get_sample_value(
        "toolformer_calls_total", {"tool": "echo", "status": "ok"}) is None
    assert idle.worker.metrics_registry is not busy.worker.metrics_registry
