"""Sessions end to end: scripted model over real HTTP and SDKs, the real broker, a real worker."""

from __future__ import annotations

import uuid

import pytest

from async_toolformer.schemas import (
    CallStatus,
    LLMTurnCompleted,
    SessionCompleted,
    SessionEvent,
    ToolCallDispatched,
    ToolCallProposed,
    ToolResultReceived,
)

from .conftest import Stack

pytestmark = pytest.mark.connected


def _prompt(text: str) -> str:
    return f"{text} ({uuid.uuid4().hex[:8]})"  # a fresh script instance per run


async def _collect(stack: Stack, prompt: str, tools: list[str],
                   **options: object) -> list[SessionEvent]:
    return [event async for event in stack.sessions.stream_session(
        prompt, tools=tools, options=options, timeout_s=60)]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_parallel_calls_across_two_turns(stack: Stack, provider: str) -> None:
    events = await _collect(stack, _prompt("two turns"), ["sleep", "echo"],
                            model="two_turns", provider=provider)

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.answer == "All done: 42."
    assert (done.turns, done.calls, done.stop_reason) == (3, 5, "answer")
    results = [e.result for e in events if isinstance(e, ToolResultReceived)]
    assert sorted(r.call_id.rsplit(":", 2)[1] for r in results) == ["0", "0", "0", "1", "1"]
    assert all(r.status is CallStatus.OK for r in results)
    for turn in ("0", "1"):  # the calls of a turn ran side by side
        mine = [r for r in results if r.call_id.rsplit(":", 2)[1] == turn]
        first_finish = min(r.timings.finished_at for r in mine)
        assert all(r.timings.started_at and r.timings.started_at < first_finish for r in mine)
    timings = done.timings
    assert timings.sequential_tool_ms >= 300 + 250 + 200 + 150
    assert timings.llm_ms > 0
    assert timings.speedup > 0
    assert done.usage.prompt_tokens > 0


async def test_results_go_back_to_the_model_as_tool_messages(stack: Stack) -> None:
    prompt = _prompt("tool messages")
    await _collect(stack, prompt, ["sleep", "echo"], model="two_turns")

    mine = [r for r in stack.server.requests
            if r.status == 200 and r.body["messages"][0]["content"] == prompt]
    assert [r.turn_index for r in mine] == [0, 1, 2]
    tool_messages = [m for m in mine[1].body["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 3
    assert '"slept_ms":300' in tool_messages[0]["content"]
    assert tool_messages[2]["content"] == '{"x":1}'


async def test_calls_are_dispatched_while_the_model_still_streams(stack: Stack) -> None:
    prompt = _prompt("streaming")
    started = len(stack.chunks.chunks)
    events = await _collect(stack, prompt, ["sleep", "echo"], model="streaming")

    assert isinstance(events[-1], SessionCompleted)
    kinds = [type(e) for e in events]
    first_dispatch = kinds.index(ToolCallDispatched)
    assert first_dispatch < kinds.index(LLMTurnCompleted)
    # The worker's executor had the first call in hand before the server wrote the
    # last chunk of the model's turn: dispatch did not wait for the turn to end.
    number = next(i for i, r in enumerate(stack.server.requests)
                  if r.status == 200 and r.body["messages"][0]["content"] == prompt)
    last_chunk_at = next(at for chunk, at in stack.chunks.chunks[started:]
                         if chunk.request == number and chunk.last)
    results = [e.result for e in events if isinstance(e, ToolResultReceived)]
    first = min(results, key=lambda r: r.timings.received_at)
    assert first.timings.received_at < last_chunk_at
    assert first.call_id.endswith(":0:0")


async def test_malformed_and_unknown_calls_go_back_as_errors(stack: Stack) -> None:
    prompt = _prompt("malformed")
    events = await _collect(stack, prompt, ["sleep", "echo"], model="malformed")

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.answer == "recovered."
    proposed = [e for e in events if isinstance(e, ToolCallProposed)]
    assert [p.error is not None for p in proposed] == [True, False, False, False]
    dispatched = [e for e in events if isinstance(e, ToolCallDispatched)]
    assert [d.tool for d in dispatched] == ["echo"]  # only the sound call reached a worker
    second = next(r for r in stack.server.requests if r.status == 200 and r.turn_index == 1
                  and r.body["messages"][0]["content"] == prompt)
    contents = [m["content"] for m in second.body["messages"] if m["role"] == "tool"]
    assert "could not be read" in contents[0]
    assert "no tool named 'no_such_tool'" in contents[1]
    assert "ms" in contents[2]
    assert contents[2].startswith("error")
    assert contents[3] == '{"fine":true}'


async def test_a_429_is_retried_then_the_session_completes(stack: Stack) -> None:
    prompt = _prompt("rate limited")
    done = await stack.sessions.run_session(prompt, options={"model": "rate_limited"},
                                            timeout_s=60)

    assert done.answer == "after a 429."
    statuses = [r.status for r in stack.server.requests
                if r.body["messages"][0]["content"] == prompt]
    assert statuses == [429, 200]
