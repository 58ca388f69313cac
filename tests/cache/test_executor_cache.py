"""The cache in the executor, on real Redis: hits, misses, bypass, tenants, TTL, single flight."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from async_toolformer.schemas import CallStatus, ToolCallCompleted, decode_as

from . import cache_tools
from .conftest import NodeFactory, call, token

pytestmark = pytest.mark.connected


def _event(wire: bytes) -> ToolCallCompleted:
    return decode_as(ToolCallCompleted, wire)


async def test_a_miss_runs_and_an_identical_call_is_answered_from_the_cache(
        node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    [first] = await node.run([call("lookup_price", token=t, sku="a", scale=2)])
    [second] = await node.run([call("lookup_price", token=t, sku="a", scale=2.0,
                                    session_id="s2")])
    one, two = _event(first.wire), _event(second.wire)
    assert cache_tools.runs[t] == 1
    assert (one.status, one.cached, one.cache_age_ms) == (CallStatus.OK, False, None)
    assert two.status is CallStatus.OK
    assert two.cached
    assert two.cache_age_ms is not None
    assert 0 <= two.cache_age_ms <= 60_000
    assert two.output == one.output == {"sku": "a", "price": 20.0, "currency": "EUR",
                                        "extra": None}
    # sealed for the asking call: its own ids
    assert (two.call_id, two.session_id) != (one.call_id, one.session_id)
    assert two.session_id == "s2"
    assert two.attempts == 0
    assert node.cache.metrics.hits.labels(tool="lookup_price")._value.get() == 1
    assert node.cache.metrics.misses.labels(tool="lookup_price")._value.get() == 1


async def test_a_cached_answer_is_recorded_so_a_redelivery_gets_the_same_bytes(
        node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    await node.run([call("lookup_price", token=t, sku="a")])
    asking = call("lookup_price", token=t, sku="a", call_id=f"again-{t}")
    [cached] = await node.run([asking])
    [redelivered] = await node.run([asking])
    assert _event(cached.wire).cached
    assert redelivered.wire == cached.wire  # from the ledger, byte for byte
    assert cache_tools.runs[t] == 1


async def test_defaults_and_key_order_make_the_same_question(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    await node.run([call("lookup_price", token=t, sku="a")])
    [same] = await node.run([call("lookup_price", currency="EUR", sku="a", token=t, scale=1)])
    assert _event(same.wire).cached
    assert cache_tools.runs[t] == 1


async def test_bypass_runs_and_leaves_the_cache_alone(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    await node.run([call("lookup_price", token=t, sku="a")])
    bypass = call("lookup_price", token=t, sku="a").model_copy(update={"cache": "bypass"})
    [fresh] = await node.run([bypass])
    assert not _event(fresh.wire).cached
    assert cache_tools.runs[t] == 2
    alone = await node.run_alone(bypass.model_copy(update={"call_id": f"alone-{t}"}))
    assert not _event(alone.wire).cached
    assert cache_tools.runs[t] == 3


async def test_tenants_never_share_an_entry(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    [a] = await node.run([call("lookup_price", token=t, sku="a", tenant="acme")])
    [b] = await node.run([call("lookup_price", token=t, sku="a", tenant="globex")])
    [a2] = await node.run([call("lookup_price", token=t, sku="a", tenant="acme")])
    assert not _event(a.wire).cached
    assert not _event(b.wire).cached
    assert _event(a2.wire).cached
    assert cache_tools.runs[t] == 2


async def test_an_entry_expires_after_its_ttl(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    [one] = await node.run([call("short_lived", token=t)])
    [two] = await node.run([call("short_lived", token=t)])
    key = node.guard._cache.key_of(call("short_lived", token=t)) if node.guard._cache else None
    assert key is not None
    entry = node.cache.entry_key(key)
    assert 0 < await node.cache.redis.pttl(entry) <= 2_000  # the tool's cache_ttl_s, in Redis
    async with asyncio.timeout(10):  # Redis expires it (its clock, not this test's)
        while await node.cache.redis.exists(entry):  # noqa: ASYNC110 - polling Redis
            await asyncio.sleep(0.05)
    [three] = await node.run([call("short_lived", token=t)])
    assert [_event(s.wire).output for s in (one, two, three)] == [1, 1, 2]
    assert [_event(s.wire).cached for s in (one, two, three)] == [False, True, False]


async def test_errors_are_never_cached(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    [one] = await node.run([call("failing_lookup", token=t)])
    [two] = await node.run([call("failing_lookup", token=t)])
    assert one.status is CallStatus.ERROR
    assert two.status is CallStatus.ERROR
    assert cache_tools.runs[t] == 2


async def test_the_path_of_a_call_alone_uses_the_cache_too(node_factory: NodeFactory) -> None:
    node = await node_factory()
    t = token()
    first = await node.run_alone(call("lookup_price", token=t, sku="z"))
    second = await node.run_alone(call("lookup_price", token=t, sku="z"))
    assert not _event(first.wire).cached
    assert _event(second.wire).cached
    assert cache_tools.runs[t] == 1


@pytest.mark.parametrize("batched", [True, False])
async def test_identical_calls_on_two_executors_share_one_run(
        node_factory: NodeFactory, batched: bool) -> None:
    nodes = [await node_factory(worker="w-a"), await node_factory(worker="w-b")]
    t = token()
    calls = [call("slow_lookup", token=t, delay_s=0.3, session_id=f"s{i}") for i in range(8)]

    async def on(i: int) -> list[bytes]:
        mine = calls[i::2]
        if batched:
            return [s.wire for s in await nodes[i].run(mine)]
        return [s.wire for s in await asyncio.gather(*(nodes[i].run_alone(c) for c in mine))]

    results = [_event(w) for part in await asyncio.gather(on(0), on(1)) for w in part]
    assert cache_tools.runs[t] == 1
    assert all(r.status is CallStatus.OK for r in results)
    assert {orjson.dumps(r.output) for r in results} == {orjson.dumps({"token": t, "run": 1})}
    assert sum(not r.cached for r in results) == 1  # the one that ran
