"""Rate limits admit a fetch's calls in one decision: those admitted start at once,
the others wait, every one completes, and the limits hold as they did call by call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected

LIMITS = """
namespace = "{namespace}"

[[limits]]
name = "nap-in-flight"
scope = "tool"
match = "nap"
kind = "concurrency"
max_in_flight = 3
poll_ms = 5

[[limits]]
name = "sleep-bucket"
scope = "tool"
match = "sleep"
kind = "token_bucket"
rate = 20
per = "second"
burst = 4
"""


async def test_calls_admitted_in_bulk_and_calls_that_wait_all_complete(
        pipeline_factory: PipelineFactory, tmp_path: Path, unique_prefix: str) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(LIMITS.format(namespace=f"{unique_prefix}limits"))
    pipe = await pipeline_factory(limits_file=limits)

    naps = await pipe.client.run([
        ToolCallRequested(call_id=f"bulk-nap-{i}", session_id="bulk", tool="nap",
                          arguments={"ms": 30}) for i in range(12)], timeout_s=60)
    assert all(r.status is CallStatus.OK for r in naps)
    spans = [(r.timings.started_at, r.timings.finished_at) for r in naps]
    assert all(start is not None and end is not None for start, end in spans)
    edges = sorted((t, +1 if i == 0 else -1) for span in spans
                   for i, t in enumerate(span) if t is not None)
    running = most = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start
        running += step
        most = max(most, running)
    assert most <= 3  # never more in flight than the limit's permits

    sleeps = await pipe.client.run([
        ToolCallRequested(call_id=f"bulk-sleep-{i}", session_id="bulk", tool="sleep",
                          arguments={"ms": 1}) for i in range(8)], timeout_s=60)
    assert all(r.status is CallStatus.OK for r in sleeps)
    starts = sorted(r.timings.started_at for r in sleeps if r.timings.started_at)
    # A burst of 4, then 20 a second: the 8th cannot start before 4 more were earned.
    assert (starts[-1] - starts[0]).total_seconds() >= 0.15


async def test_a_cancelled_call_admitted_in_bulk_gives_its_permit_back(
        pipeline_factory: PipelineFactory, tmp_path: Path, unique_prefix: str) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text(LIMITS.format(namespace=f"{unique_prefix}limits"))
    pipe = await pipeline_factory(limits_file=limits)

    hogs = asyncio.create_task(pipe.client.run([
        ToolCallRequested(call_id=f"hog-{i}", session_id="hogs", tool="nap",
                          arguments={"ms": 120_000}) for i in range(3)], timeout_s=60))
    await asyncio.sleep(1.0)  # the three permits are taken
    await pipe.client.cancel_session("hogs", reason="make room")
    cancelled = await hogs
    assert all(r.status is CallStatus.CANCELLED for r in cancelled)
    after = await pipe.client.run([
        ToolCallRequested(call_id=f"after-{i}", session_id="after", tool="nap",
                          arguments={"ms": 1}) for i in range(3)], timeout_s=30)
    assert all(r.status is CallStatus.OK for r in after)
