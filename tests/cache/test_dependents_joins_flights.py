"""The cache's edges on real Redis and the real broker: dependent calls, a joiner's own
timeout, and flights that must never be left behind for their lease."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from async_toolformer.agents.executor import Claimed
from async_toolformer.agents.executor.cache_keys import CacheKey
from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.redis.result_cache import Busy, Flight
from tests.pipeline.conftest import TEST_TOOLS, PipelineFactory

from . import cache_tools
from .conftest import CACHE_TOOLS, TOOLS, Node, NodeFactory, call, token

pytestmark = pytest.mark.connected


def _call(tool: str, session: str, *, call_id: str | None = None, **fields: Any
          ) -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id or uuid.uuid4().hex, session_id=session,
                             tool=tool, **fields)


async def test_a_dependent_call_is_never_answered_by_its_unresolved_arguments(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(tools=[CACHE_TOOLS, TEST_TOOLS])
    t, s = token(), f"dep-{uuid.uuid4().hex[:8]}"
    reference = {"$ref": f"{s}-in", "path": "v"}
    [made] = await pipeline.client.run(
        [_call("echo", s, call_id=f"{s}-in", arguments={"v": "REAL"})], timeout_s=30)
    # the same JSON as plain data (no depends_on): cached under those literal arguments
    [literal] = await pipeline.client.run([_call(
        "lookup_price", "other", arguments={"token": t, "sku": "x", "extra": reference})],
        timeout_s=30)
    [dependent] = await pipeline.client.run([_call(
        "lookup_price", s, arguments={"token": t, "sku": "x", "extra": reference},
        depends_on=[f"{s}-in"])], timeout_s=30)
    assert made.status is literal.status is CallStatus.OK
    assert literal.output["extra"] == reference
    assert dependent.status is CallStatus.OK
    assert dependent.output["extra"] == "REAL"
    assert not dependent.cached
    assert cache_tools.runs[t] == 2


async def test_a_call_joining_a_run_keeps_its_own_timeout(
        pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(tools=[CACHE_TOOLS])
    t = token()
    arguments = {"token": t, "delay_s": 3}
    first = asyncio.create_task(pipeline.client.run(
        [_call("slow_lookup", "s1", arguments=arguments)], timeout_s=30))
    async with asyncio.timeout(20):
        while cache_tools.runs[t] == 0:  # noqa: ASYNC110 - until the run is under way
            await asyncio.sleep(0.02)
    [joined], [alone] = await asyncio.gather(
        pipeline.client.run([_call("slow_lookup", "s2", arguments=arguments, timeout_s=0.5)],
                            timeout_s=30),
        pipeline.client.run([_call("slow_lookup", "s3", arguments={**arguments, "token": t + "x"},
                                   timeout_s=0.5)], timeout_s=30))
    [ran] = await first
    assert ran.status is CallStatus.OK
    assert alone.status is CallStatus.TIMEOUT
    assert joined.status is CallStatus.TIMEOUT  # as its own run would have ended
    assert joined.error is not None
    assert "0.5s" in joined.error.message
    assert cache_tools.runs[t] == 1  # it did not start a run of its own either


def _key(node: Node, request: ToolCallRequested) -> CacheKey:
    cached = node.guard._cache
    assert cached is not None
    key = cached.key_of(request)
    assert key is not None
    return key


async def _free(node: Node, request: ToolCallRequested) -> bool:
    """Whether ``request``'s key has no flight left: a new opening wins one at once."""
    key = _key(node, request)
    async with asyncio.timeout(5):
        while True:
            [opening] = await node.cache.begin([key])
            if isinstance(opening, Flight):
                await node.cache.finish([(opening, None)])
                return True
            assert isinstance(opening, Busy), opening
            await asyncio.sleep(0.02)  # an ending flight: its finish is on its way


async def test_a_flight_won_beside_failed_claims_is_ended(
        node_factory: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    node = await node_factory()
    request = call("lookup_price", token=token(), sku="a")
    ledger = node.guard._ledger
    assert ledger is not None

    async def broken(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.05)  # the cache's opening is in by then
        raise RuntimeError("the ledger failed")

    with monkeypatch.context() as patch:
        patch.setattr(ledger, "claim_many", broken)
        with pytest.raises(RuntimeError):
            await node.guard.open_many([request])
    [opening] = await node.cache.begin([_key(node, request)])
    if isinstance(opening, Busy):  # ended on a task of its own: give it a moment
        assert await _free(node, request)
    else:
        assert isinstance(opening, Flight)
        await node.cache.finish([(opening, None)])


async def test_a_flight_of_a_claim_answered_without_running_is_ended(
        node_factory: NodeFactory) -> None:
    node = await node_factory()
    request = call("lookup_price", token=token(), sku="b")
    [claimed] = await node.guard.open_many([request])
    assert isinstance(claimed, Claimed)
    assert node.guard._cache is not None
    assert node.guard._cache.flying  # it won the key's flight
    node.guard._note_started((request.call_id, claimed.fingerprint))  # a refused record

    async def never() -> Any:
        raise AssertionError("must not run")

    def seal(outcome: Any) -> Any:
        return outcome

    answer = await node.guard.hold(request, TOOLS.get("lookup_price"), claimed,
                                   never, seal)
    assert answer.status is CallStatus.INDETERMINATE
    assert await _free(node, request)


async def test_a_cancelled_opening_ends_the_flights_it_won(
        node_factory: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    node = await node_factory()
    request = call("lookup_price", token=token(), sku="c")
    key = _key(node, request)
    script = node.cache._begin
    answered = asyncio.Event()

    async def slow_reply(**kwargs: Any) -> Any:
        await script(**kwargs)  # the flight is won in Redis ...
        answered.set()
        await asyncio.Event().wait()  # ... and its reply never arrives here

    with monkeypatch.context() as patch:
        patch.setattr(node.cache, "_begin", slow_reply)
        opening = asyncio.create_task(node.cache.begin([key]))
        await answered.wait()
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
    assert await _free(node, request)
