"""Dependent calls on a real worker, broker and Redis, against hostile neighbours: an input is
only ever a result of the same tenant and session, waiting calls hold no worker-wide place,
and resolved arguments are bounded in bytes."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested
from tests.pipeline.conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected


@pytest.fixture(params=["ledger", "no-ledger"])
async def either(request: pytest.FixtureRequest, pipeline_factory: PipelineFactory
                 ) -> Pipeline:
    """A worker with its execution ledger, and one without (inputs kept in memory)."""
    if request.param == "ledger":
        return await pipeline_factory()
    return await pipeline_factory(redis_url=None)


async def test_another_tenants_result_is_never_an_input(either: Pipeline) -> None:
    victim = ToolCallRequested(call_id="victim-a", session_id="shared", tool="echo",
                               arguments={"secret": "alice's"}, tenant="alice")
    [a] = await either.client.run([victim], timeout_s=30)
    assert a.status is CallStatus.OK
    thief = ToolCallRequested(  # same session id and call id, another tenant
        call_id="mallory-b", session_id="shared", tool="echo", tenant="mallory",
        arguments={"stolen": {"$ref": "victim-a", "path": "secret"}},
        depends_on=["victim-a"], timeout_s=2)
    [b] = await either.client.run([thief], timeout_s=30)
    assert b.output != {"stolen": "alice's"}
    assert b.status is CallStatus.ERROR
    assert b.error is not None
    assert b.error.type == "input_missing"


async def test_a_waiting_call_is_woken_only_by_its_own_tenant(either: Pipeline) -> None:
    victim = ToolCallRequested(call_id="iso-b", session_id="iso", tool="echo", tenant="alice",
                               arguments={"got": {"$ref": "iso-a", "path": "v"}},
                               depends_on=["iso-a"], timeout_s=3)
    waiting = asyncio.create_task(either.client.run([victim], timeout_s=30))
    await asyncio.sleep(0.5)
    evil = ToolCallRequested(call_id="iso-a", session_id="iso", tool="echo", tenant="mallory",
                             arguments={"v": "EVIL"})
    [e] = await either.client.run([evil], timeout_s=30)
    assert e.status is CallStatus.OK  # mallory's own call runs; its result is only hers
    [b] = await waiting
    assert b.output != {"got": "EVIL"}
    assert b.error is not None
    assert b.error.type == "input_missing"


async def test_a_waiting_call_is_woken_only_by_its_own_session(pipeline: Pipeline) -> None:
    victim = ToolCallRequested(call_id="X-d", session_id="X", tool="echo",
                               arguments={"got": {"$ref": "X-c", "path": "v"}},
                               depends_on=["X-c"], timeout_s=3)
    waiting = asyncio.create_task(pipeline.client.run([victim], timeout_s=30))
    await asyncio.sleep(0.5)
    # a waiting call in session Y (so Y's results are posted), then X's input's call id in Y
    hold = ToolCallRequested(call_id="Y-w", session_id="Y", tool="echo",
                             arguments={"x": {"$ref": "Y-never"}}, depends_on=["Y-never"],
                             timeout_s=3)
    held = asyncio.create_task(pipeline.client.run([hold], timeout_s=30))
    await asyncio.sleep(0.3)
    evil = ToolCallRequested(call_id="X-c", session_id="Y", tool="echo", arguments={"v": "EVIL"})
    [e] = await pipeline.client.run([evil], timeout_s=30)
    assert e.status is CallStatus.OK
    [b] = await waiting
    await held
    assert b.output != {"got": "EVIL"}
    assert b.error is not None
    assert b.error.type == "input_missing"


async def test_waiting_calls_hold_no_worker_wide_place(pipeline_factory: PipelineFactory
                                                       ) -> None:
    narrow = await pipeline_factory(max_in_flight=2)
    s = "narrow"
    dependents = [ToolCallRequested(call_id=f"{s}-d{i}", session_id=s, tool="echo",
                                    arguments={"v": {"$ref": f"{s}-a", "path": "v"}},
                                    depends_on=[f"{s}-a"], timeout_s=8)
                  for i in range(4)]  # more than max_in_flight, sent before their input
    source = ToolCallRequested(call_id=f"{s}-a", session_id=s, tool="echo", arguments={"v": 7})
    results = await narrow.client.run([*dependents, source], timeout_s=30)
    assert [r.status for r in results] == [CallStatus.OK] * 5, [r.error for r in results]
    assert [r.output for r in results[:4]] == [{"v": 7}] * 4


async def test_resolved_arguments_are_bounded_in_bytes(either: Pipeline) -> None:
    s = "bulky"
    big = "x" * 200_000  # one input's output of about 200 kB, referenced 10 times
    source = ToolCallRequested(call_id=f"{s}-a", session_id=s, tool="echo",
                               arguments={"s": big})
    dependent = ToolCallRequested(
        call_id=f"{s}-b", session_id=s, tool="echo", depends_on=[f"{s}-a"],
        arguments={f"k{i}": {"$ref": f"{s}-a", "path": ""} for i in range(10)})
    a, b = await either.client.run([source, dependent], timeout_s=30)
    assert a.status is CallStatus.OK
    assert b.status is CallStatus.REJECTED
    assert b.error is not None
    assert b.error.type == "invalid_arguments"
    assert "bytes" in b.error.message
    # the worker goes on
    [after] = await either.client.run([ToolCallRequested(
        call_id=f"{s}-c", session_id=s, tool="echo", depends_on=[f"{s}-a"],
        arguments={"k": {"$ref": f"{s}-a", "path": "s"}})], timeout_s=30)
    assert after.status is CallStatus.OK
    assert after.output == {"k": big}
