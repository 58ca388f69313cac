"""Branch cancellation through the real pipeline: race groups and the session deadline."""

from __future__ import annotations

import uuid

import pytest

from async_toolformer.schemas import (
    BranchDecision,
    CallStatus,
    SessionCompleted,
    SessionEvent,
    ToolCallCompleted,
)

from .conftest import Stack

pytestmark = pytest.mark.connected


async def _events(stack: Stack, session_id: str, tools: list[str],
                  **options: object) -> list[SessionEvent]:
    return [event async for event in stack.sessions.stream_session(
        f"{session_id}", session_id=session_id, tools=tools, options=options, timeout_s=60)]


async def _results(stack: Stack, session_id: str, count: int) -> list[ToolCallCompleted]:
    """The session's results as the executors published them (not as the session saw them)."""
    found: list[ToolCallCompleted] = []
    async for result in stack.calls.follow(session_id, follow=False, idle_s=3.0):
        found.append(result)
        if len(found) == count:
            break
    return found


async def test_first_ok_result_of_a_race_cancels_its_siblings(stack: Stack) -> None:
    session = f"race-{uuid.uuid4().hex[:8]}"
    events = await _events(stack, session, ["sleep", "nap"], model="race",
                           race=[{"tools": ["sleep", "nap"]}])

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    decisions = {d.call_id.rsplit(":", 1)[1]: d for d in events if isinstance(d, BranchDecision)}
    assert decisions["1"].decision == "won"
    assert decisions["0"].decision == decisions["2"].decision == "cancelled"
    assert decisions["0"].saved_ms > 0
    assert done.timings.saved_tool_ms > 0
    # the executors really stopped the two naps (they would have run 4-5 s)
    by_call = {r.call_id.rsplit(":", 1)[1]: r for r in await _results(stack, session, 3)}
    assert by_call["1"].status is CallStatus.OK
    assert by_call["0"].status is CallStatus.CANCELLED
    assert by_call["2"].status is CallStatus.CANCELLED
    assert by_call["0"].timings.run_ms < 4000


async def test_session_deadline_ends_the_session_and_its_calls(stack: Stack) -> None:
    session = f"deadline-{uuid.uuid4().hex[:8]}"
    events = await _events(stack, session, ["sleep"], model="deadline", session_deadline_s=1.0)

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.stop_reason == "deadline"
    assert done.turns == 1
    [result] = await _results(stack, session, 1)
    assert result.status is CallStatus.CANCELLED
    assert result.timings.run_ms < 5000


async def test_branch_deadline_cancels_the_slow_call_only(stack: Stack) -> None:
    session = f"branch-{uuid.uuid4().hex[:8]}"
    events = await _events(stack, session, ["sleep", "nap"], model="race",
                           branch_deadline_s=1.0)

    assert isinstance(events[-1], SessionCompleted)
    decisions = sorted((d.call_id.rsplit(":", 1)[1], d.decision, d.reason)
                       for d in events if isinstance(d, BranchDecision))
    assert [(c, d) for c, d, _ in decisions] == [("0", "cancelled"), ("2", "cancelled")]
    assert all("branch deadline" in reason for _, _, reason in decisions)
