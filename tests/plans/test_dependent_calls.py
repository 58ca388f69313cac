"""Calls with ``depends_on`` on a real worker, broker and Redis: each waits for its inputs,
takes values from them, and ends with a reason whenever an input cannot feed it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested
from tests.pipeline.conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected


def _call(call_id: str, tool: str, *, session: str, depends_on: tuple[str, ...] = (),
          timeout_s: float | None = None, **arguments: Any) -> ToolCallRequested:
    return ToolCallRequested(call_id=f"{session}-{call_id}", session_id=session, tool=tool,
                             arguments=arguments, timeout_s=timeout_s,
                             depends_on=[f"{session}-{c}" for c in depends_on])


def _ref(session: str, call_id: str, path: str = "") -> dict[str, str]:
    return {"$ref": f"{session}-{call_id}", "path": path}


def _error_type(result: ToolCallCompleted) -> str:
    assert result.error is not None, result
    return result.error.type


async def test_a_chain_runs_in_order_with_earlier_values(pipeline: Pipeline) -> None:
    s = "chain"
    calls = [  # sent dependents first: each still waits for its input
        _call("c", "sleep", session=s, depends_on=("b",), ms=_ref(s, "b", "x.ms")),
        _call("b", "echo", session=s, depends_on=("a",), x={"ms": _ref(s, "a", "slept_ms")},
              whole=_ref(s, "a")),
        _call("a", "sleep", session=s, ms=120),
    ]
    c, b, a = await pipeline.client.run(calls, timeout_s=30)
    assert [a.status, b.status, c.status] == [CallStatus.OK] * 3
    assert b.output == {"x": {"ms": 120}, "whole": {"slept_ms": 120}}
    assert c.output == {"slept_ms": 120}
    assert b.timings.started_at is not None
    assert c.timings.started_at is not None
    assert b.timings.started_at >= a.timings.finished_at
    assert c.timings.started_at >= b.timings.finished_at


async def test_a_failed_input_cancels_its_dependents_with_the_reason(pipeline: Pipeline) -> None:
    s = "failed-input"
    calls = [
        _call("a", "fail", session=s, message="no such page"),
        _call("b", "echo", session=s, depends_on=("a",), v=_ref(s, "a", "url")),
        _call("c", "echo", session=s, depends_on=("b",), v=_ref(s, "b")),
        _call("free", "echo", session=s, v=1),  # not a dependent: runs as usual
    ]
    a, b, c, free = await pipeline.client.run(calls, timeout_s=30)
    assert a.status is CallStatus.ERROR
    assert b.status is CallStatus.CANCELLED
    assert _error_type(b) == "input_failed"
    assert b.error is not None
    assert f"{s}-a ended error" in b.error.message
    assert "no such page" in b.error.message
    assert c.status is CallStatus.CANCELLED
    assert c.error is not None
    assert f"{s}-b ended cancelled" in c.error.message
    assert free.status is CallStatus.OK


async def test_a_path_missing_from_a_result_is_refused(pipeline: Pipeline) -> None:
    s = "missing-path"
    a, b, c = await pipeline.client.run([
        _call("a", "echo", session=s, results=[]),
        _call("b", "echo", session=s, depends_on=("a",), url=_ref(s, "a", "results[0].url")),
        _call("c", "echo", session=s, depends_on=("a",), url=_ref(s, "a", "results.url")),
    ], timeout_s=30)
    assert a.status is CallStatus.OK
    assert (b.status, _error_type(b)) == (CallStatus.ERROR, "invalid_reference")
    assert b.error is not None
    assert "results has 0 items: no item [0]" in b.error.message
    assert (c.status, _error_type(c)) == (CallStatus.ERROR, "invalid_reference")
    assert c.error is not None
    assert "not an object" in c.error.message


async def test_calls_waiting_for_each_other_are_refused_not_stuck(pipeline: Pipeline) -> None:
    s = "cycle"
    x, y = await pipeline.client.run([
        _call("x", "echo", session=s, depends_on=("y",), v=_ref(s, "y")),
        _call("y", "echo", session=s, depends_on=("x",), v=_ref(s, "x")),
    ], timeout_s=30)
    types = sorted([_error_type(x), _error_type(y)])
    assert types == ["dependency_cycle", "input_failed"]
    refused = x if _error_type(x) == "dependency_cycle" else y
    assert refused.status is CallStatus.REJECTED
    assert refused.error is not None
    assert f"{s}-x" in refused.error.message
    assert f"{s}-y" in refused.error.message


async def test_bad_references_are_refused_at_intake(pipeline: Pipeline) -> None:
    s = "intake"
    own, unknown, bad_path, extra_key = await pipeline.client.run([
        _call("own", "echo", session=s, depends_on=("own",), v=1),
        _call("unknown", "echo", session=s, depends_on=("a",), v=_ref(s, "other")),
        _call("path", "echo", session=s, depends_on=("a",), v=_ref(s, "a", "a..b")),
        _call("extra", "echo", session=s, depends_on=("a",),
              v={"$ref": f"{s}-a", "path": "", "default": 1}),
    ], timeout_s=30)
    for result, words in [(own, "depends on itself"), (unknown, "does not list"),
                          (bad_path, "cannot read"), (extra_key, "not default")]:
        assert result.status is CallStatus.REJECTED, result
        assert result.error is not None
        assert words in result.error.message


async def test_an_input_never_requested_ends_at_the_timeout(pipeline: Pipeline) -> None:
    s = "never"
    [lonely] = await pipeline.client.run([
        _call("b", "echo", session=s, depends_on=("ghost",), timeout_s=0.5, v=_ref(s, "ghost")),
    ], timeout_s=30)
    assert (lonely.status, _error_type(lonely)) == (CallStatus.ERROR, "input_missing")
    assert lonely.error is not None
    assert f"{s}-ghost" in lonely.error.message


async def test_resolved_arguments_are_validated_against_the_tool(pipeline: Pipeline) -> None:
    s = "validated"
    a, b = await pipeline.client.run([
        _call("a", "echo", session=s, ms="soon"),
        _call("b", "sleep", session=s, depends_on=("a",), ms=_ref(s, "a", "ms")),
    ], timeout_s=30)
    assert a.status is CallStatus.OK
    assert (b.status, _error_type(b)) == (CallStatus.REJECTED, "invalid_arguments")


async def test_an_input_recorded_earlier_is_read_from_the_ledger(pipeline: Pipeline) -> None:
    s = "earlier"
    [a] = await pipeline.client.run([_call("a", "echo", session=s, n=7)], timeout_s=30)
    [b] = await pipeline.client.run(
        [_call("b", "echo", session=s, depends_on=("a",), n=_ref(s, "a", "n"))], timeout_s=30)
    assert a.status is CallStatus.OK
    assert (b.status, b.output) == (CallStatus.OK, {"n": 7})


async def test_another_sessions_record_is_never_an_input(pipeline: Pipeline) -> None:
    [a] = await pipeline.client.run([_call("a", "echo", session="owner", n=1)], timeout_s=30)
    stranger = ToolCallRequested(call_id="stranger-b", session_id="stranger", tool="echo",
                                 arguments={"n": {"$ref": "owner-a", "path": "n"}},
                                 depends_on=["owner-a"], timeout_s=0.5)
    [b] = await pipeline.client.run([stranger], timeout_s=30)
    assert a.status is CallStatus.OK
    assert (b.status, _error_type(b)) == (CallStatus.ERROR, "input_missing")


async def test_hostile_dependencies_are_refused_and_the_worker_goes_on(
        pipeline: Pipeline) -> None:
    s = "hostile"
    deep: Any = {"$ref": f"{s}-a"}
    for _ in range(70):
        deep = [deep]
    bad = [
        ToolCallRequested.model_construct(  # over the schema's bound: never validated here
            **_call("many", "echo", session=s).model_dump(),
        ).model_copy(update={"depends_on": [f"{s}-i{i}" for i in range(33)]}),
        _call("refs", "echo", session=s, depends_on=("a",), v=[_ref(s, "a")] * 65),
        _call("long", "echo", session=s, depends_on=("a",), v=_ref(s, "a", "k" * 300)),
        _call("deep", "echo", session=s, depends_on=("a",), v=deep),
        _call("number", "echo", session=s, depends_on=("a",), v={"$ref": 5}),
        _call("control", "echo", session=s, depends_on=("a",), v={"$ref": "a\x07b"}),
    ]
    answers = await pipeline.client.run(bad, timeout_s=30)
    assert [a.status for a in answers] == [CallStatus.REJECTED] * len(bad), answers
    after = await pipeline.client.run([
        _call("a", "echo", session=s, n=1),
        _call("b", "echo", session=s, depends_on=("a",), n=_ref(s, "a", "n")),
    ], timeout_s=30)
    assert [r.output for r in after] == [{"n": 1}, {"n": 1}]


async def test_a_waiting_call_holds_no_place_under_its_tools_cap(
        pipeline_factory: PipelineFactory) -> None:
    capped = await pipeline_factory(tool_concurrency={"sleep": 1})
    s = "capped"
    b, a = await capped.client.run([  # the dependent first: it must not take the only place
        _call("b", "sleep", session=s, depends_on=("a",), timeout_s=5,
              ms=_ref(s, "a", "slept_ms")),
        _call("a", "sleep", session=s, ms=100),
    ], timeout_s=30)
    assert (a.status, b.status) == (CallStatus.OK, CallStatus.OK), b
    assert b.output == {"slept_ms": 100}


async def test_a_waiting_call_is_cancelled_with_its_branch(pipeline: Pipeline) -> None:
    s = "cancel-waiting"
    waiting = asyncio.create_task(pipeline.client.run([
        _call("b", "echo", session=s, depends_on=("a",), v=_ref(s, "a")).model_copy(
            update={"branch_id": "plan"}),
    ], timeout_s=30))
    [marker] = await pipeline.client.run([_call("marker", "sleep", session=s, ms=200)])
    assert marker.status is CallStatus.OK  # by now b waits for its input
    await pipeline.client.cancel_branch(s, "plan", reason="the plan was dropped")
    [b] = await waiting
    assert b.status is CallStatus.CANCELLED
    assert b.error is not None
    assert b.error.message == "the plan was dropped"


async def test_an_input_refused_at_intake_fails_its_dependents(pipeline: Pipeline) -> None:
    s = "refused-input"
    a, b = await pipeline.client.run([
        _call("a", "no_such_tool", session=s, x=1),
        _call("b", "echo", session=s, depends_on=("a",), timeout_s=20, v=_ref(s, "a")),
    ], timeout_s=30)
    assert a.status is CallStatus.REJECTED
    assert (b.status, _error_type(b)) == (CallStatus.CANCELLED, "input_failed")
    assert b.error is not None
    assert "ended rejected" in b.error.message
