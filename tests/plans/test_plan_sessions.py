"""Plan mode end to end: the scripted model streams a plan over real HTTP, a real worker
runs it as a graph on the real broker and Redis, and the model is asked again only to
answer or replan."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import typer
from typer.testing import CliRunner

from async_toolformer.schemas import (
    CallStatus,
    LLMTurnCompleted,
    SessionCompleted,
    SessionEvent,
    ToolCallCompleted,
    ToolCallDispatched,
    ToolResultReceived,
)
from async_toolformer.streams.cli.ask import ask
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from tests.sessions.conftest import ChunkLog, Stack, chunk_log, llm_env, stack

pytestmark = pytest.mark.connected

__all__ = ["chunk_log", "llm_env", "stack"]  # the fixtures, from the session tests

SLOW_PLAN = "\n".join([
    "I will wait, then echo what the wait returned.",
    "$1 = sleep(ms=150)",
    "$2 = echo(v=$1.slept_ms)",
    "$3 = sleep(ms=$2.v)",
    "That is the whole plan, written slowly so it streams for a while.",
    "join()",
])

SCRIPT: dict[str, Any] = {
    "defaults": {"latency_ms": 5, "token_delay_ms": 1, "chunk_chars": 16},
    "conversations": {
        "slow_plan": {"turns": [
            {"text": SLOW_PLAN, "token_delay_ms": 40, "chunk_chars": 8},
            {"text": "Slept 150 ms twice."},
        ]},
        "failing_plan": {"turns": [
            {"text": "\n".join([
                '$1 = fail(message="the index is down")',
                "$2 = echo(v=$1.results[0].url)",
                "$3 = echo(w=$2)",
                "$4 = echo(items=[])",
                "$5 = echo(first=$4.items[0])",
                "join()"])},
            {"text": "Nothing could be found."},
        ]},
        "bad_plan": {"turns": [
            {"text": "\n".join([
                "$1 = echo(a=$2)",
                "$2 = echo(b=1)",
                "$3 = echo(c=$1.x)",
                "$4 = no_such_tool(x=1)",
                "$5 = echo(d=",
                "join()"])},
            {"text": "$1 = echo(b=2)\njoin()"},
            {"text": "Recovered after a replan."},
        ]},
    },
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake_llm(chunk_log: ChunkLog) -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(SCRIPT, on_chunk=chunk_log) as server:
        yield server


async def _run(stack: Stack, model: str) -> tuple[list[SessionEvent], str]:
    prompt = f"plan {model} ({uuid.uuid4().hex[:8]})"
    events = [event async for event in stack.sessions.stream_session(
        prompt, tools=["sleep", "echo", "fail"], options={"model": model, "plan": True},
        timeout_s=60)]
    return events, prompt


def _results(events: list[SessionEvent]) -> dict[str, ToolCallCompleted]:
    return {e.result.call_id.rsplit(":", 1)[1]: e.result for e in events
            if isinstance(e, ToolResultReceived)}


def _next_prompt(server: FakeLLMServer, prompt: str, turn: int) -> str:
    """What the model was sent on ``turn`` of the session started with ``prompt``."""
    bodies = [r.body for r in server.requests
              if r.turn_index == turn and prompt in str(r.body.get("messages"))]
    assert bodies, f"no request for turn {turn}"
    return str(bodies[-1]["messages"])


async def test_a_plans_first_call_starts_before_the_plan_is_streamed(stack: Stack) -> None:
    events, _ = await _run(stack, "slow_plan")
    done = events[-1]
    assert isinstance(done, SessionCompleted), done
    assert (done.answer, done.turns, done.calls) == ("Slept 150 ms twice.", 2, 3)
    results = _results(events)
    assert [results[i].status for i in "012"] == [CallStatus.OK] * 3, results
    assert results["2"].output == {"slept_ms": 150}  # through $2.v from $1.slept_ms
    plan_end = next(e for e in events if isinstance(e, LLMTurnCompleted) and e.turn == 0)
    first_started = results["0"].timings.started_at
    assert first_started is not None
    assert first_started < plan_end.at  # ran while the model was still writing the plan
    dispatched = [e for e in events if isinstance(e, ToolCallDispatched) and e.turn == 0]
    assert dispatched[0].at < plan_end.at
    # The dependent waited for its input: it started after its input finished.
    assert results["1"].timings.started_at is not None
    assert results["1"].timings.started_at >= results["0"].timings.finished_at


async def test_a_failed_input_cancels_its_dependents_in_a_plan(stack: Stack) -> None:
    events, prompt = await _run(stack, "failing_plan")
    done = events[-1]
    assert isinstance(done, SessionCompleted), done
    assert (done.answer, done.turns) == ("Nothing could be found.", 2)
    results = _results(events)
    assert results["0"].status is CallStatus.ERROR
    for dependent in ("1", "2"):  # $2 reads $1, $3 reads $2
        error = results[dependent].error
        assert results[dependent].status is CallStatus.CANCELLED
        assert error is not None
        assert error.type == "input_failed"
    assert results["4"].status is CallStatus.ERROR
    assert results["4"].error is not None
    assert results["4"].error.type == "invalid_reference"
    told = _next_prompt(stack.server, prompt, 1)
    assert "the index is down" in told
    assert "input_failed" in told
    assert "has 0 items" in told


async def test_a_bad_plan_is_told_to_the_model_and_replanned(stack: Stack) -> None:
    events, prompt = await _run(stack, "bad_plan")
    done = events[-1]
    assert isinstance(done, SessionCompleted), done
    assert (done.answer, done.turns, done.stop_reason) == ("Recovered after a replan.", 3,
                                                           "answer")
    ran = {e.result.call_id for e in events if isinstance(e, ToolResultReceived)}
    assert len(ran) == 2  # $2 of the first plan, $1 of the second: the rest was refused
    told = _next_prompt(stack.server, prompt, 1)
    assert "$2 is not a step written before $1" in told  # a cycle cannot be written
    assert "it uses $1, which did not run" in told
    assert "there is no tool named" in told
    assert "no_such_tool" in told
    assert "cannot read the value at character 12" in told


async def test_ask_runs_a_plan_from_the_command_line(stack: Stack) -> None:
    app = typer.Typer()
    app.command()(ask)
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.settings.kafka_bootstrap_servers or "",
           "TOOLFORMER_TOPIC_PREFIX": stack.settings.topic_prefix}
    prompt = f"plan cli ({uuid.uuid4().hex[:8]})"
    result = await asyncio.to_thread(
        CliRunner().invoke, app,
        [prompt, "--model", "slow_plan", "--plan", "-t", "sleep", "-t", "echo"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.count("→ sleep") == 2
    assert "Slept 150 ms twice." in result.output
