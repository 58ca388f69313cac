"""The session state machine on its own: no broker, no model, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from async_toolformer.agents.sessions import (
    CallModel,
    CancelBranch,
    CancelSession,
    DispatchCall,
    Record,
    RegistryCatalogue,
    SessionMachine,
    SessionState,
)
from async_toolformer.agents.sessions.commands import Command
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    BranchDecision,
    CallStatus,
    CallTimings,
    DeadlineReached,
    LLMTurnCompleted,
    LLMTurnStarted,
    SessionCompleted,
    SessionEvent,
    SessionOptions,
    SessionStarted,
    ToolCallCompleted,
    ToolCallProposed,
    ToolResultReceived,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MACHINE = SessionMachine(RegistryCatalogue(load_tools([])))


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def _start(**options: Any) -> SessionStarted:
    return SessionStarted(session_id="s", prompt="go", tools=("sleep", "echo"),
                          options=SessionOptions.model_validate(options), started_at=T0)


def _propose(index: int, tool: str = "sleep", ms: float = 10, turn: int = 0,
             **arguments: Any) -> ToolCallProposed:
    return ToolCallProposed(session_id="s", turn=turn, index=index, llm_call_id=f"c{index}",
                            tool=tool, arguments=arguments or {"ms": 100}, at=_at(ms))


def _result(index: int, ms: float, status: CallStatus = CallStatus.OK, output: Any = None,
            turn: int = 0) -> ToolResultReceived:
    timings = CallTimings(requested_at=_at(0), received_at=_at(1), started_at=_at(2),
                          finished_at=_at(ms), queue_ms=1, run_ms=ms - 2)
    result = ToolCallCompleted(call_id=f"s:{turn}:{index}", session_id="s", tool="sleep",
                               status=status, output=output, worker_id="w", timings=timings)
    return ToolResultReceived(session_id="s", result=result, at=_at(ms))


def _run(events: list[SessionEvent]) -> tuple[SessionState | None, list[Command]]:
    state: SessionState | None = None
    commands: list[Command] = []
    for event in events:
        state, more = MACHINE.apply(state, event)
        commands += more
    return state, commands


def test_a_session_asks_the_model_dispatches_calls_and_completes() -> None:
    state, commands = _run([
        _start(), LLMTurnStarted(session_id="s", turn=0, at=_at(0)),
        _propose(0), _propose(1, tool="echo", x=1),
        LLMTurnCompleted(session_id="s", turn=0, llm_ms=30, at=_at(30)),
        _result(1, 50), _result(0, 130),
        LLMTurnStarted(session_id="s", turn=1, at=_at(131)),
        LLMTurnCompleted(session_id="s", turn=1, text="answer", llm_ms=20, at=_at(151)),
    ])
    assert state is not None
    assert state.closed
    assert [c.request.tool for c in commands if isinstance(c, DispatchCall)] == ["sleep", "echo"]
    model_calls = [c for c in commands if isinstance(c, CallModel)]
    assert [c.turn for c in model_calls] == [0, 1]
    assert len(model_calls[1].request.messages) == 4  # prompt, assistant, two tool results
    [done] = [c.event for c in commands if isinstance(c, Record)
              and isinstance(c.event, SessionCompleted)]
    assert done.answer == "answer"
    assert done.timings.wall_ms == 151
    assert done.timings.tool_ms == 100  # waited from the end of turn 0 (30) to the last result
    assert done.timings.sequential_tool_ms == 128 + 48


def test_refold_then_resume_asks_the_open_turn_again() -> None:
    events: list[SessionEvent] = [_start(), LLMTurnStarted(session_id="s", turn=0, at=_at(0)),
                                  _propose(0)]
    state, _ = _run(events)
    assert state is not None
    commands = MACHINE.resume(state)
    assert [type(c) for c in commands] == [DispatchCall, CallModel]
    again = commands[1]
    assert isinstance(again, CallModel)
    assert again.attempt == 2
    # the retried turn proposes the same call: it is not dispatched twice
    state, more = MACHINE.apply(state, LLMTurnStarted(session_id="s", turn=0, attempt=2))
    state, more = MACHINE.apply(state, _propose(0))
    assert more == []


def test_keep_top_n_cancels_the_rest_and_keeps_the_best() -> None:
    state, commands = _run([
        _start(keep_top_n=2, scorer="output.score"),
        LLMTurnStarted(session_id="s", turn=0, at=_at(0)),
        *[_propose(i) for i in range(4)],
        LLMTurnCompleted(session_id="s", turn=0, at=_at(20)),
        _result(0, 50, output={"score": 0.2}), _result(1, 60, status=CallStatus.ERROR),
        _result(2, 70, output={"score": 0.9}),
    ])
    assert state is not None
    cancelled = [c.branch_id for c in commands if isinstance(c, CancelBranch)]
    assert cancelled == ["t0.c3"]
    decisions = {c.event.call_id: c.event.decision for c in commands
                 if isinstance(c, Record) and isinstance(c.event, BranchDecision)}
    assert decisions == {"s:0:3": "cancelled", "s:0:1": "discarded"}
    assert [c.turn for c in commands if isinstance(c, CallModel)] == [0, 1]


def test_session_deadline_cancels_what_still_runs() -> None:
    state, commands = _run([
        _start(session_deadline_s=1), LLMTurnStarted(session_id="s", turn=0, at=_at(0)),
        _propose(0), DeadlineReached(session_id="s", scope="session", at=_at(1000)),
        _result(0, 1200),
    ])
    assert state is not None
    assert state.closed
    assert any(isinstance(c, CancelSession) for c in commands)
    [done] = [c.event for c in commands if isinstance(c, Record)
              and isinstance(c.event, SessionCompleted)]
    assert done.stop_reason == "deadline"
