"""The execution ledger in the pipeline: a redelivered call is answered, not run again."""

from __future__ import annotations

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from . import tools_for_tests
from .conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected


async def test_a_call_published_twice_runs_once(pipeline: Pipeline) -> None:
    call = ToolCallRequested(call_id="pay-1", session_id="ledger", tool="charge",
                             arguments={"account": "acct-twice", "cents": 500})
    [first] = await pipeline.client.run([call])
    [again] = await pipeline.client.run([call])

    assert first.status is CallStatus.OK
    assert tools_for_tests.executions["acct-twice"] == 1
    assert again == first  # the recorded event, re-emitted unchanged


async def test_without_the_ledger_a_redelivery_runs_again(
        pipeline_factory: PipelineFactory) -> None:
    unguarded = await pipeline_factory(ledger=False)
    call = ToolCallRequested(call_id="pay-2", session_id="ledger", tool="charge",
                             arguments={"account": "acct-unguarded", "cents": 1})
    await unguarded.client.run([call])
    await unguarded.client.run([call])
    assert tools_for_tests.executions["acct-unguarded"] == 2
