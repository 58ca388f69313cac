"""Plan mode in the session machine on its own: no broker, no model, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from async_toolformer.agents.providers import SystemMessage, UserMessage
from async_toolformer.agents.sessions import (
    CallModel,
    DispatchCall,
    RegistryCatalogue,
    SessionMachine,
    SessionState,
)
from async_toolformer.agents.sessions.commands import Command
from async_toolformer.agents.sessions.plan_mode import PlanReader
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    CallStatus,
    CallTimings,
    LLMTurnCompleted,
    LLMTurnStarted,
    SessionEvent,
    SessionOptions,
    SessionStarted,
    ToolCallCompleted,
    ToolResultReceived,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
MACHINE = SessionMachine(RegistryCatalogue(load_tools([])))
PLAN = """$1 = sleep(ms=10)
$2 = echo(v=$1.slept_ms, all=$1)
$3 = echo(w=$9)
$4 = echo(u=$3)
$5 = sleep(ms=$2.v)
join()
"""


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def _events() -> list[SessionEvent]:
    start = SessionStarted(session_id="s", prompt="go", tools=("sleep", "echo"),
                           options=SessionOptions(plan=True), started_at=T0)
    reader = PlanReader("s", 0)
    proposed = [*reader.feed(PLAN[:40]), *reader.feed(PLAN[40:]), *reader.finish()]
    return [start, LLMTurnStarted(session_id="s", turn=0, at=_at(1)), *proposed,
            LLMTurnCompleted(session_id="s", turn=0, text=PLAN, at=_at(5))]


def _result(index: int, output: Any) -> ToolResultReceived:
    timings = CallTimings(requested_at=_at(0), received_at=_at(1), started_at=_at(2),
                          finished_at=_at(9), queue_ms=1, run_ms=7)
    return ToolResultReceived(session_id="s", result=ToolCallCompleted(
        call_id=f"s:0:{index}", session_id="s", tool="echo", status=CallStatus.OK,
        output=output, worker_id="w", timings=timings), at=_at(10 + index))


def _run(events: list[SessionEvent]) -> tuple[SessionState | None, list[Command]]:
    state: SessionState | None = None
    commands: list[Command] = []
    for event in events:
        state, more = MACHINE.apply(state, event)
        commands += more
    return state, commands


def test_steps_become_calls_that_depend_on_earlier_calls() -> None:
    state, commands = _run(_events())
    [first_model] = [c for c in commands if isinstance(c, CallModel)]
    assert first_model.request.tools == ()  # described in the prompt instead
    assert isinstance(first_model.request.messages[0], SystemMessage)
    assert "$1 = <tool>" in first_model.request.messages[0].content
    calls = [c.request for c in commands if isinstance(c, DispatchCall)]
    assert [c.call_id for c in calls] == ["s:0:0", "s:0:1", "s:0:4"]
    assert calls[1].depends_on == ["s:0:0"]
    assert calls[1].arguments == {"v": {"$ref": "s:0:0", "path": "slept_ms"},
                                  "all": {"$ref": "s:0:0"}}
    assert calls[2].depends_on == ["s:0:1"]
    assert state is not None
    refused = {i: c.settled for i, c in state.turns[0].calls.items() if c.settled is not None}
    assert set(refused) == {2, 3}  # $3 names an unknown step, $4 uses $3
    assert "not a step written before" in (refused[2].content if refused[2] else "")
    assert "it uses $3, which did not run" in (refused[3].content if refused[3] else "")


def test_results_go_back_as_text_and_the_model_is_asked_once_more() -> None:
    _, commands = _run([*_events(), _result(0, {"slept_ms": 10}), _result(1, {"v": 10}),
                        _result(4, {"slept_ms": 10})])
    models = [c for c in commands if isinstance(c, CallModel)]
    assert [m.turn for m in models] == [0, 1]
    last = models[1].request.messages[-1]
    assert isinstance(last, UserMessage)
    assert last.content.startswith("Results of your plan:\n$1 = sleep: ok: {\"slept_ms\":10}")
    assert "$4 = echo: error: error: plan step 4: it uses $3" in last.content


def test_a_re_fold_dispatches_the_same_calls() -> None:
    _, first = _run(_events())
    _, again = _run(_events())
    assert [c.request.model_dump(exclude={"requested_at"}) for c in first
            if isinstance(c, DispatchCall)] == [
        c.request.model_dump(exclude={"requested_at"}) for c in again
        if isinstance(c, DispatchCall)]
