"""Many calls of one session run at once, through the real broker."""

from __future__ import annotations

from datetime import datetime

import pytest

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested

from .conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected


def _calls(session: str, n: int, tool: str = "sleep", **arguments: object
           ) -> list[ToolCallRequested]:
    return [ToolCallRequested(call_id=f"{session}-{i}", session_id=session, tool=tool,
                              arguments={**arguments}) for i in range(n)]


async def test_200_calls_of_one_session_overlap(pipeline: Pipeline) -> None:
    calls = [ToolCallRequested(call_id=f"p-{i}", session_id="par", tool="sleep",
                               arguments={"ms": 100 + (i % 5) * 100}) for i in range(200)]
    results = await pipeline.client.run(calls, timeout_s=60)

    assert [r.call_id for r in results] == [c.call_id for c in calls]
    assert all(r.status is CallStatus.OK for r in results)
    # Every call started before the first one finished: they ran side by side,
    # so the round cost the slowest call, not the sum.
    first_finish = min(r.timings.finished_at for r in results)
    assert all(r.timings.started_at is not None and r.timings.started_at < first_finish
               for r in results)


async def test_results_stream_in_completion_order(pipeline: Pipeline) -> None:
    calls = [ToolCallRequested(call_id=f"s-{ms}", session_id="stream", tool="sleep",
                               arguments={"ms": ms}) for ms in (600, 50, 300)]
    order = [r.call_id async for r in pipeline.client.stream(calls, timeout_s=30)]
    assert order == ["s-50", "s-300", "s-600"]


async def test_sync_tool_runs_in_a_thread(pipeline: Pipeline) -> None:
    [result] = await pipeline.client.run(
        [ToolCallRequested(call_id="sum", session_id="sync", tool="blocking_sum",
                           arguments={"a": 2, "b": 3})])
    assert result.status is CallStatus.OK
    assert result.output == 5


async def test_caps_bound_calls_in_flight(pipeline_factory: PipelineFactory) -> None:
    capped = await pipeline_factory(max_in_flight=4, tool_concurrency={"sleep": 2})

    sleeps = await capped.client.run(_calls("cap-sleep", 6, ms=150), timeout_s=60)
    naps = await capped.client.run(_calls("cap-nap", 8, tool="nap", ms=150), timeout_s=60)

    assert all(r.status is CallStatus.OK for r in [*sleeps, *naps])
    assert _max_overlap(sleeps) == 2  # the per-tool cap
    assert _max_overlap(naps) == 4  # the worker-wide cap


def _max_overlap(results: list[ToolCallCompleted]) -> int:
    edges: list[tuple[datetime, int]] = []
    for r in results:
        assert r.timings.started_at is not None
        edges += [(r.timings.started_at, 1), (r.timings.finished_at, -1)]
    running = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        running += step
        peak = max(peak, running)
    return peak
