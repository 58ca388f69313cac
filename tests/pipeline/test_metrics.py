"""The worker's Prometheus endpoint counts calls by tool and status, and dead letters."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from async_toolformer.schemas import ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected


async def test_metrics_endpoint(pipeline_factory: PipelineFactory) -> None:
    pipe = await pipeline_factory(metrics_port=0)
    await pipe.client.run([
        ToolCallRequested(call_id="m-ok", session_id="metrics", tool="echo"),
        ToolCallRequested(call_id="m-bad", session_id="metrics", tool="no_such_tool"),
    ], timeout_s=30)
    url = f"http://127.0.0.1:{pipe.worker.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
    text = body.decode()
    assert 'toolformer_calls_total{status="ok",tool="echo"}' in text
    assert 'toolformer_dead_letters_total{reason="unknown_tool"}' in text
    assert "toolformer_call_duration_seconds_bucket" in text
    assert "toolformer_calls_in_flight" in text
