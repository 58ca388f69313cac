"""Timeouts, retries, tool errors and cancellation: each call still ends in one result."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from .conftest import Pipeline

pytestmark = pytest.mark.connected


def _call(call_id: str, tool: str, session: str = "failures", branch: str = "main",
          **arguments: object) -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, branch_id=branch, tool=tool,
                             arguments=arguments)


async def test_timeout_from_the_tool_and_from_the_call(pipeline: Pipeline) -> None:
    by_tool = _call("t-tool", "hangs")
    by_call = _call("t-call", "sleep", ms=5000).model_copy(update={"timeout_s": 0.2})
    results = await pipeline.client.run([by_tool, by_call], timeout_s=30)
    assert [r.status for r in results] == [CallStatus.TIMEOUT, CallStatus.TIMEOUT]
    assert results[1].error is not None
    assert "0.2s" in results[1].error.message


async def test_retryable_failures_are_retried_until_success(pipeline: Pipeline) -> None:
    [ok, exhausted] = await pipeline.client.run(
        [_call("r-ok", "flaky", key="r-ok", failures=2),
         _call("r-out", "flaky", key="r-out", failures=10)], timeout_s=30)
    assert ok.status is CallStatus.OK
    assert ok.attempts == 3
    assert exhausted.status is CallStatus.ERROR
    assert exhausted.attempts == 4  # the policy's limit
    assert exhausted.error is not None
    assert exhausted.error.retryable


async def test_errors_and_unserialisable_output_become_error_results(pipeline: Pipeline) -> None:
    [failed, odd] = await pipeline.client.run(
        [_call("e-fail", "fail", message="boom"), _call("e-odd", "unserialisable")])
    assert failed.status is CallStatus.ERROR
    assert failed.error is not None
    assert failed.error.message == "boom"
    assert odd.status is CallStatus.ERROR
    assert odd.error is not None
    assert odd.error.type == "UnserialisableOutput"


async def test_branch_cancelled_mid_flight(pipeline: Pipeline) -> None:
    session = "cancel-mid"
    slow = [_call(f"slow-{i}", "sleep", session=session, branch="slow", ms=20_000)
            for i in range(5)]
    fast = [_call("fast", "sleep", session=session, branch="fast", ms=100)]
    running = asyncio.create_task(pipeline.client.run([*slow, *fast], timeout_s=60))
    [done] = await pipeline.client.run([_call("marker", "sleep", session=session, ms=300)])
    assert done.status is CallStatus.OK  # by now the slow branch is running

    await pipeline.client.cancel_branch(session, "slow", reason="a sibling won the race")
    results = await running

    assert results[-1].status is CallStatus.OK
    for result in results[:-1]:
        assert result.status is CallStatus.CANCELLED
        assert result.error is not None
        assert result.error.message == "a sibling won the race"
        assert result.timings.run_ms < 20_000


async def test_cancellation_read_before_its_calls_stops_them_starting(
        pipeline: Pipeline) -> None:
    session = "cancel-first"
    await pipeline.client.cancel_session(session, reason="user gave up")
    await asyncio.sleep(0.5)  # let the worker read the cancellation first
    results = await pipeline.client.run(
        [_call(f"late-{i}", "sleep", session=session, ms=10_000) for i in range(3)],
        timeout_s=30)
    assert all(r.status is CallStatus.CANCELLED for r in results)
    assert all(r.attempts == 0 and r.timings.started_at is None for r in results)
