"""The cache under rate limits: a hit takes no quota, identical calls still share one run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.schemas import CallStatus, ToolCallCompleted, decode_as
from async_toolformer.streams.redis.ratelimit import LimitsConfig, RateLimiter

from . import cache_tools
from .conftest import NodeFactory, call, token

pytestmark = pytest.mark.connected


@pytest_asyncio.fixture(loop_scope="session")
async def limiter(cache_redis: Redis) -> AsyncIterator[RateLimiter]:
    config = LimitsConfig.model_validate({"namespace": f"cache-limits-{token()}", "limits": [
        {"name": "one-price-a-minute", "scope": "tool", "match": "lookup_price",
         "kind": "token_bucket", "rate": 1, "per": "minute", "burst": 1,
         "backpressure": "reject"},
        {"name": "slow-in-flight", "scope": "tool", "match": "slow_lookup",
         "kind": "concurrency", "max_in_flight": 50},
    ]})
    async with RateLimiter(config, cache_redis) as limits:
        yield limits


def _event(wire: bytes) -> ToolCallCompleted:
    return decode_as(ToolCallCompleted, wire)


async def test_a_hit_takes_no_quota(node_factory: NodeFactory, limiter: RateLimiter) -> None:
    node = await node_factory(limiter=limiter)
    t = token()
    [first] = await node.run([call("lookup_price", token=t, sku="a")])
    [hit] = await node.run([call("lookup_price", token=t, sku="a")])
    [other] = await node.run([call("lookup_price", token=t, sku="b")])
    assert first.status is CallStatus.OK
    assert _event(hit.wire).cached  # the bucket is empty, and the hit does not need it
    assert other.status in (CallStatus.RATE_LIMITED, CallStatus.REJECTED)
    assert cache_tools.runs[t] == 1


async def test_identical_calls_share_one_run_under_limits(node_factory: NodeFactory,
                                                          limiter: RateLimiter) -> None:
    node = await node_factory(limiter=limiter)
    t = token()
    results = await node.run([call("slow_lookup", token=t, delay_s=0.2, session_id=f"s{i}")
                              for i in range(6)])
    events = [_event(s.wire) for s in results]
    assert {e.status for e in events} == {CallStatus.OK}
    assert sum(not e.cached for e in events) == 1
    assert cache_tools.runs[t] == 1
