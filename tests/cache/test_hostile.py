"""Hostile input and failures around the cache: each ends in the tool running, never a stall."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from async_toolformer.agents.executor.cache_keys import MAX_KEY_BYTES
from async_toolformer.schemas import CallStatus, ToolCallCompleted, decode_as
from async_toolformer.streams.devtools.stack.ports import free_port

from . import cache_tools
from .conftest import NodeFactory, call, token

pytestmark = pytest.mark.connected


def _event(wire: bytes) -> ToolCallCompleted:
    return decode_as(ToolCallCompleted, wire)


async def _twice(node_factory: NodeFactory, **arguments: Any) -> list[ToolCallCompleted]:
    node = await node_factory()
    return [_event(s.wire) for s in (*await node.run([call("anything", **arguments)]),
                                      *await node.run([call("anything", **arguments)]))]


@pytest.mark.parametrize("payload", [
    "x" * (MAX_KEY_BYTES + 10),  # huge arguments: no key
    {"k": list(range(20_000))},  # too many values
    "NaN",  # a string, not a number: an ordinary key
])
async def test_arguments_past_the_key_bounds_run_uncached(node_factory: NodeFactory,
                                                          payload: Any) -> None:
    t = token()
    results = await _twice(node_factory, token=t, payload=payload)
    assert [r.status for r in results] == [CallStatus.OK, CallStatus.OK]
    expected_runs = 1 if payload == "NaN" else 2
    assert cache_tools.runs[t] == expected_runs


async def test_deep_arguments_run_uncached(node_factory: NodeFactory) -> None:
    deep: Any = 0
    for _ in range(40):
        deep = {"d": deep}
    t = token()
    results = await _twice(node_factory, token=t, payload=deep)
    assert [r.cached for r in results] == [False, False]
    assert cache_tools.runs[t] == 2


@pytest.mark.parametrize("scale", ["NaN", "nan", "Infinity", "-inf"])
async def test_non_finite_numbers_run_uncached(node_factory: NodeFactory, scale: str) -> None:
    node = await node_factory()
    t = token()
    for _ in range(2):
        [sealed] = await node.run([call("lookup_price", token=t, sku="a", scale=scale)])
        assert not _event(sealed.wire).cached
    assert cache_tools.runs[t] == 2
    assert node.cache.metrics.uncacheable.labels(reason="not_finite")._value.get() == 2


async def test_a_result_too_large_is_not_cached(node_factory: NodeFactory) -> None:
    node = await node_factory(max_entry_bytes=10_000)
    t = token()
    small = [_event(s.wire) for s in (*await node.run([call("sized", token=t, size=100)]),
                                       *await node.run([call("sized", token=t, size=100)]))]
    big = [_event(s.wire) for s in (*await node.run([call("sized", token=t, size=20_000)]),
                                     *await node.run([call("sized", token=t, size=20_000)]))]
    assert [r.cached for r in small] == [False, True]
    assert [r.cached for r in big] == [False, False]
    assert all(r.status is CallStatus.OK for r in big)
    assert cache_tools.runs[t] == 3
    assert node.cache.metrics.uncacheable.labels(reason="result_too_large")._value.get() == 2


@pytest.mark.parametrize("stored", [
    b"garbage",
    b"123:not json",
    b"123:{\"k\": \"another key\", \"o\": 1}",
    b"123:[1, 2]",
    b"x" * 2_000_000,
])
async def test_a_tampered_entry_is_a_miss_and_the_tool_runs(
        node_factory: NodeFactory, cache_redis: Redis, stored: bytes) -> None:
    node = await node_factory()
    t = token()
    request = call("lookup_price", token=t, sku="a")
    key = node.cache.key_of("t1", cache_tools_spec("lookup_price"), request.arguments)
    assert key is not None
    await cache_redis.set(node.cache.entry_key(key), stored, px=60_000)
    [first] = await node.run([request])
    [second] = await node.run([call("lookup_price", token=t, sku="a")])
    assert not _event(first.wire).cached
    assert _event(second.wire).cached  # the run overwrote the bad entry
    assert cache_tools.runs[t] == 1
    assert node.cache.metrics.errors.labels(kind="undecodable")._value.get() >= 1


async def test_an_entry_of_another_type_is_a_miss(node_factory: NodeFactory,
                                                  cache_redis: Redis) -> None:
    node = await node_factory()
    t = token()
    request = call("lookup_price", token=t, sku="a")
    key = node.cache.key_of("t1", cache_tools_spec("lookup_price"), request.arguments)
    assert key is not None
    await cache_redis.hset(node.cache.entry_key(key), "a", "b")
    await cache_redis.hset(node.cache.flight_key(key), "a", "b")
    [first] = await node.run([call("lookup_price", token=t, sku="a")])
    [second] = await node.run([call("lookup_price", token=t, sku="a")])
    assert first.status is CallStatus.OK
    assert _event(second.wire).cached  # overwritten with an entry of ours
    assert cache_tools.runs[t] == 1


async def test_a_flight_key_without_a_lease_does_not_hold_calls(
        node_factory: NodeFactory, cache_redis: Redis) -> None:
    node = await node_factory()
    t = token()
    request = call("lookup_price", token=t, sku="a")
    key = node.cache.key_of("t1", cache_tools_spec("lookup_price"), request.arguments)
    assert key is not None
    await cache_redis.set(node.cache.flight_key(key), "forever")  # no expiry
    [sealed] = await node.run([request])
    assert sealed.status is CallStatus.OK
    assert cache_tools.runs[t] == 1


async def test_with_the_cache_redis_down_the_tool_still_runs(node_factory: NodeFactory) -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5,
                 socket_timeout=0.5, retry=Retry(NoBackoff(), 0))  # no port answers
    try:
        node = await node_factory(cache_client=dead)
        t = token()
        results = [*await node.run([call("lookup_price", token=t, sku="a")]),
                   *await node.run([call("lookup_price", token=t, sku="a")]),
                   await node.run_alone(call("lookup_price", token=t, sku="a"))]
    finally:
        await dead.aclose()
    assert [r.status for r in results] == [CallStatus.OK] * 3
    assert cache_tools.runs[t] == 3
    assert node.cache.metrics.errors.labels(kind="unavailable")._value.get() >= 3


def cache_tools_spec(name: str) -> Any:
    from .conftest import TOOLS
    return TOOLS.get(name)
