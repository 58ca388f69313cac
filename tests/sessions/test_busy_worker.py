"""A worker whose calls cap is full still reads cancellations, sessions and results."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from .conftest import Stack

pytestmark = pytest.mark.connected

CAP = 4


async def test_a_full_calls_cap_stops_only_the_calls(bare_stack: Stack) -> None:
    stack = bare_stack
    stack.settings = stack.settings.model_copy(update={"max_in_flight": CAP})
    worker = await stack.start_worker(f"{stack.settings.group_id}-capped")
    executor = worker.running.executor
    hog = f"hog-{uuid.uuid4().hex[:8]}"
    calls = [ToolCallRequested(call_id=f"{hog}-{i}", session_id=hog, tool="sleep",
                               arguments={"ms": 100_000}, timeout_s=200) for i in range(3 * CAP)]
    results = asyncio.create_task(stack.calls.run(calls, timeout_s=100))
    await _until(lambda: executor.stats.in_flight == CAP)
    lanes = worker.running.app.consumer.tap_lanes  # type: ignore[attr-defined]
    calls_lane = lanes[stack.topics.calls]
    await _until(lambda: bool(calls_lane.paused))  # the tap waits: the calls partitions pause
    assert executor.stats.in_flight == CAP

    # a session starts, answers and ends while every place for a call is taken
    done = await stack.sessions.run_session(f"busy {uuid.uuid4().hex[:8]}",
                                            options={"model": "rate_limited"}, timeout_s=60)
    assert done.answer == "after a 429."

    # and a cancellation reaches the calls that hold the cap, and those still queued
    await stack.calls.cancel_session(hog, reason="the cap was full")
    ended = await results  # the sleeps would take 100 s: only the cancellation ends them
    assert [r.status for r in ended] == [CallStatus.CANCELLED] * len(calls)
    assert {r.error.message for r in ended if r.error} == {"the cap was full"}
    await _until(lambda: not calls_lane.paused)  # room again: the calls partitions resume


async def _until(predicate: Callable[[], bool], timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling the worker's public state
            await asyncio.sleep(0.05)
