"""The cache through real workers on the embedded broker and real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested
from tests.pipeline.conftest import PipelineFactory

from . import cache_tools
from .conftest import CACHE_TOOLS, token

pytestmark = pytest.mark.connected


def _call(tool: str, session: str, **arguments: object) -> ToolCallRequested:
    return ToolCallRequested(call_id=uuid.uuid4().hex, session_id=session, tool=tool,
                             arguments=arguments)


async def test_a_worker_answers_an_identical_call_from_the_cache(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(tools=[CACHE_TOOLS])
    t = token()
    [first] = await pipeline.client.run([_call("lookup_price", "s-a", token=t, sku="p")])
    asking = _call("lookup_price", "s-b", sku="p", token=t, scale=1)
    [second] = await pipeline.client.run([asking])
    [redelivered] = await pipeline.client.run([asking])
    assert first.status is CallStatus.OK
    assert not first.cached
    assert second.cached
    assert second.output == first.output
    assert second.session_id == "s-b"
    assert redelivered == second  # recorded under its own claim: the same event again
    bypass = asking.model_copy(update={"call_id": uuid.uuid4().hex, "cache": "bypass"})
    [fresh] = await pipeline.client.run([bypass])
    assert not fresh.cached
    assert cache_tools.runs[t] == 2


async def test_identical_calls_on_two_workers_run_once(pipeline_factory: PipelineFactory) -> None:
    namespace = f"shared-{uuid.uuid4().hex[:8]}"  # one deployment: one ledger, one cache
    workers = [await pipeline_factory(tools=[CACHE_TOOLS], ledger_namespace=namespace)
               for _ in range(2)]
    t = token()
    calls = [_call("slow_lookup", f"s{i}", token=t, delay_s=0.5) for i in range(12)]
    parts = await asyncio.gather(*(w.client.run(calls[i::2]) for i, w in enumerate(workers)))
    results = [r for part in parts for r in part]
    assert cache_tools.runs[t] == 1
    assert {r.status for r in results} == {CallStatus.OK}
    assert sum(not r.cached for r in results) == 1
    assert all(r.output == {"token": t, "run": 1} for r in results)
