"""The console's fold: events in, each session's turns and calls out, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from async_toolformer.schemas import (
    BranchCancelled,
    BranchDecision,
    CallStatus,
    CallTimings,
    DeadLetter,
    DeadLetterReason,
    JournalMarker,
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionCompleted,
    SessionFailed,
    SessionStarted,
    SessionTimings,
    TokenUsage,
    ToolCallCompleted,
    ToolCallDispatched,
    ToolCallRequested,
    ToolError,
    ToolResultReceived,
)
from async_toolformer.streams.ops.console import ConsoleState
from async_toolformer.streams.ops.console.hub import EventHub, sse_message

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def _request(call_id: str, branch: str = "main", session: str = "s1") -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool="sleep",
                             branch_id=branch, arguments={"ms": 10}, tenant="acme",
                             requested_at=_at(0))


def _result(call_id: str, status: CallStatus, *, branch: str = "main", message: str = "",
            session: str = "s1") -> ToolCallCompleted:
    return ToolCallCompleted(
        call_id=call_id, session_id=session, branch_id=branch, tool="sleep", status=status,
        error=ToolError(type="Cancelled", message=message) if message else None,
        worker_id="w1", attempts=1,
        timings=CallTimings(requested_at=_at(0), received_at=_at(5), started_at=_at(10),
                            finished_at=_at(60), queue_ms=5, run_ms=50))


def _calls(state: ConsoleState, session: str = "s1") -> dict[str, dict[str, Any]]:
    view = state.sessions[session].as_json()
    return {c["call_id"]: c for c in view["calls"]}


def test_a_call_is_queued_then_ends_in_its_results_status() -> None:
    state = ConsoleState()
    assert state.apply(_request("c1")) == "s1"
    assert _calls(state)["c1"]["status"] == "queued"
    assert state.apply(_result("c1", CallStatus.OK)) == "s1"
    call = _calls(state)["c1"]
    assert call["status"] == "ok"
    assert call["worker_id"] == "w1"
    assert call["started_at"] == _at(10).isoformat()
    assert call["finished_at"] == _at(60).isoformat()
    assert state.sessions["s1"].tenant == "acme"


def test_a_cancelled_branch_marks_its_pending_calls_then_their_results_say_why() -> None:
    state = ConsoleState()
    for call_id, branch in (("a", "fast"), ("b", "slow"), ("c", "slow")):
        state.apply(_request(call_id, branch))
    state.apply(_result("a", CallStatus.OK, branch="fast"))
    state.apply(BranchCancelled(session_id="s1", branch_id="slow", reason="a faster one won"))

    calls = _calls(state)
    assert calls["a"]["cancel_requested"] == ""  # already done: not touched
    assert calls["b"]["cancel_requested"] == "a faster one won"
    assert calls["b"]["status"] == "queued"  # until its result comes
    assert any("branch slow cancelled" in n for n in state.sessions["s1"].notes)

    state.apply(_result("b", CallStatus.CANCELLED, branch="slow", message="a faster one won"))
    calls = _calls(state)
    assert calls["b"]["status"] == "cancelled"
    assert calls["b"]["reason"] == "a faster one won"
    assert calls["c"]["status"] == "queued"


def test_the_first_result_is_the_answer_and_re_emissions_change_nothing() -> None:
    state = ConsoleState()
    state.apply(_request("c1"))
    state.apply(_result("c1", CallStatus.TIMEOUT, message="slow"))
    state.apply(_result("c1", CallStatus.OK))
    assert _calls(state)["c1"]["status"] == "timeout"
    # The same result journaled by the session loop is the same answer.
    state.apply(ToolResultReceived(session_id="s1", result=_result("c1", CallStatus.OK)))
    assert _calls(state)["c1"]["status"] == "timeout"


def test_running_comes_from_the_ledger_and_only_for_a_queued_call() -> None:
    state = ConsoleState()
    state.apply(_request("c1"))
    state.apply(_request("c2"))
    assert state.pending_calls() == [("s1", "c1"), ("s1", "c2")]
    assert state.mark_running("s1", "c1", "w7")
    assert not state.mark_running("s1", "c1", "w7")  # no change the second time
    assert not state.mark_running("s1", "nope", "w7")
    assert not state.mark_running("nope", "c1", "w7")
    assert _calls(state)["c1"]["status"] == "running"
    state.apply(_result("c1", CallStatus.OK))
    assert not state.mark_running("s1", "c1", "w7")  # a result is final
    assert state.pending_calls() == [("s1", "c2")]


def test_an_llm_session_folds_into_turns_calls_and_its_end() -> None:
    state = ConsoleState()
    state.apply(SessionStarted(session_id="s1", prompt="weather?", tools=("sleep",),
                               tenant="acme", started_at=_at(0)))
    state.apply(LLMTurnStarted(session_id="s1", turn=0, at=_at(1)))
    state.apply(ToolCallDispatched(session_id="s1", turn=0, call_id="c1", branch_id="b1",
                                   tool="sleep", at=_at(2)))
    state.apply(LLMTurnCompleted(session_id="s1", turn=0, finish_reason="tool_calls",
                                 llm_ms=12, at=_at(3)))
    state.apply(_request("c1", "b1"))
    state.apply(BranchDecision(session_id="s1", branch_id="b1", call_id="c1", decision="won",
                               reason="first ok"))
    state.apply(LLMTurnStarted(session_id="s1", turn=1, at=_at(70)))
    state.apply(LLMTurnFailed(session_id="s1", turn=1, error="model unavailable", at=_at(80)))
    assert state.apply(JournalMarker(worker_id="w1", nonce="n")) is None
    state.apply(SessionFailed(session_id="s1", reason="llm_error", error="model unavailable",
                              at=_at(90)))

    view = state.sessions["s1"].as_json()
    assert (view["kind"], view["status"], view["prompt"]) == ("session", "failed", "weather?")
    assert view["detail"] == "llm_error: model unavailable"
    assert [(t["turn"], t["status"]) for t in view["turns"]] == [(0, "completed"), (1, "failed")]
    [call] = view["calls"]
    assert (call["turn"], call["branch_id"], call["decision"]) == (0, "b1", "won: first ok")
    orjson.dumps(view)  # what the page gets is plain JSON


def test_a_completed_session_says_how_and_a_cancelled_one_is_cancelled() -> None:
    state = ConsoleState()
    state.apply(SessionStarted(session_id="done", prompt="p"))
    state.apply(SessionCompleted(
        session_id="done", answer="42", turns=2, calls=3, usage=TokenUsage(),
        timings=SessionTimings(llm_ms=1, tool_ms=1, wall_ms=2, sequential_tool_ms=3,
                               speedup=2.5)))
    state.apply(SessionStarted(session_id="gone", prompt="p"))
    state.apply(SessionFailed(session_id="gone", reason="cancelled", error="by the client"))
    assert state.sessions["done"].status == "completed"
    assert "speedup 2.5x" in state.sessions["done"].detail
    assert state.sessions["gone"].status == "cancelled"


def test_the_state_is_bounded_and_texts_are_clipped() -> None:
    state = ConsoleState(max_sessions=3, max_calls=2)
    for i in range(5):
        state.apply(_request(f"c{i}", session=f"s{i}"))
    assert list(state.sessions) == ["s2", "s3", "s4"]  # the idle longest went first
    for i in range(5):
        state.apply(_request(f"x{i}", session="s4"))
    assert len(state.sessions["s4"].calls) == 2
    state.apply(_request("big", session="s3"))
    long = "y" * 10_000
    state.apply(_result("c3", CallStatus.ERROR, message=long, session="s3"))
    assert len(_calls(state, "s3")["c3"]["reason"]) < 400


def test_a_dead_letter_keeps_why_and_where_but_never_the_bytes() -> None:
    state = ConsoleState(max_dead_letters=2)
    for offset in range(3):
        letter = DeadLetter.of_record(
            reason=DeadLetterReason.UNKNOWN_TOOL, error="no tool named nope",
            source_topic="p.calls", source_partition=1, source_offset=offset,
            key=b"s1", value=b'{"secret": "hunter2"}', worker_id="w1", call_id="c9")
        view = state.dead_letter(letter)
    assert [d["source_offset"] for d in state.dead_letters] == [1, 2]
    assert view["reason"] == "unknown_tool"
    assert view["error"] == "no tool named nope"
    assert "hunter2" not in orjson.dumps(list(state.dead_letters)).decode()


def test_the_hub_sends_one_line_messages_and_cuts_off_a_page_that_falls_behind() -> None:
    assert sse_message("session", {"text": "a\nb"}) == (
        b'event: session\ndata: {"text":"a\\nb"}\n\n')
    hub = EventHub(max_queued=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish("x", 1)
    hub.publish("x", 2)
    fast.queue.get_nowait()
    fast.queue.get_nowait()
    hub.publish("x", 3)
    assert slow.closed
    assert not fast.closed
    assert hub.subscribers == 1
    assert [slow.queue.get_nowait() for _ in range(3)][-1] is None  # the end of its stream
