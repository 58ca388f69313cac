"""``/healthz`` answers 503 while the worker's event loop is blocked, 200 once it runs again."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request

import pytest

from async_toolformer.schemas import ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _block_the_loop(seconds: float) -> None:
    """What a sync call on the event loop does (a handler that should have used a thread)."""
    time.sleep(seconds)


async def test_healthz_fails_while_the_loop_is_blocked(pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(metrics_port=0, max_loop_lag_s=0.5)
    root = f"http://127.0.0.1:{pipeline.worker.metrics_port}"
    status, text = await asyncio.to_thread(_get, f"{root}/healthz")
    assert (status, text.split(":")[0]) == (200, "ok")

    seen: list[tuple[int, str]] = []

    def probe() -> None:  # from another thread, as the kubelet would, while the loop is stuck
        time.sleep(1.0)
        seen.append(_get(f"{root}/healthz"))

    prober = threading.Thread(target=probe)
    prober.start()
    _block_the_loop(2.0)  # the worker shares this test's loop
    await asyncio.to_thread(prober.join, 10)
    assert seen
    assert seen[0][0] == 503
    assert "over the limit of 0.5s" in seen[0][1]

    async with asyncio.timeout(10):  # the loop runs again: healthy once the lag is measured
        while (await asyncio.to_thread(_get, f"{root}/healthz"))[0] != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    [result] = await pipeline.client.run([ToolCallRequested(
        call_id="after", session_id="s", tool="echo", arguments={"x": 1})], timeout_s=30)
    assert result.ok
    _, metrics = await asyncio.to_thread(_get, f"{root}/metrics")
    assert "toolformer_event_loop_lag_seconds" in metrics
    assert "toolformer_zombie_tool_threads 0.0" in metrics
