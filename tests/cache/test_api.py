"""The ResultCache API that speculative runs use: begin, finish, join, store, lookup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.streams.redis.result_cache import (
    NOT_OK,
    Busy,
    CacheHit,
    CacheKey,
    Flight,
    ResultCache,
)

from .conftest import TOOLS, token

pytestmark = pytest.mark.connected


@pytest_asyncio.fixture(loop_scope="session")
async def cache(cache_redis: Redis) -> AsyncIterator[ResultCache]:
    namespace = f"api-{token()}"
    yield ResultCache(cache_redis, namespace=namespace, flight_lease_ms=300)
    keys = [k async for k in cache_redis.scan_iter(match=f"*{namespace}*")]
    if keys:
        await cache_redis.delete(*keys)


def _key(cache: ResultCache, sku: str, tenant: str = "t1") -> CacheKey:
    key = cache.key_of(tenant, TOOLS.get("lookup_price"), {"token": "api", "sku": sku})
    assert key is not None
    return key


async def test_a_flight_then_busy_then_a_hit_for_joiners(cache: ResultCache) -> None:
    key = _key(cache, "a")
    [mine] = await cache.begin([key])
    [theirs] = await cache.begin([key])
    assert isinstance(mine, Flight)
    assert isinstance(theirs, Busy)
    joiner = asyncio.create_task(cache.join(key))
    await asyncio.sleep(0.05)
    assert not joiner.done()
    await cache.finish([(mine, {"price": 1})])
    hit = await asyncio.wait_for(joiner, 2)
    assert isinstance(hit, CacheHit)
    assert hit.output == {"price": 1}
    assert 0 <= hit.age_ms < 2_000


async def test_a_flight_ended_without_output_passes_to_a_joiner(cache: ResultCache) -> None:
    key = _key(cache, "b")
    [mine] = await cache.begin([key])
    assert isinstance(mine, Flight)
    joiner = asyncio.create_task(cache.join(key))
    await cache.finish([(mine, NOT_OK)])  # the run failed: nothing stored
    assert isinstance(await asyncio.wait_for(joiner, 2), Flight)


async def test_a_joiner_never_waits_past_the_lease(cache: ResultCache) -> None:
    key = _key(cache, "c")
    [abandoned] = await cache.begin([key])  # its holder vanishes
    assert isinstance(abandoned, Flight)
    started = asyncio.get_running_loop().time()
    got = await asyncio.wait_for(cache.join(key), 5)
    assert isinstance(got, Flight)  # the lease (300 ms) ended: the joiner's turn
    assert asyncio.get_running_loop().time() - started < 2


async def test_store_and_lookup_without_a_flight(cache: ResultCache) -> None:
    hot, cold, other_tenant = _key(cache, "d"), _key(cache, "e"), _key(cache, "d", "t2")
    assert await cache.store(hot, [1, 2, 3])
    hits = await cache.lookup([hot, cold, other_tenant])
    assert isinstance(hits[0], CacheHit)
    assert hits[0].output == [1, 2, 3]
    assert hits[1:] == [None, None]
    [again] = await cache.begin([hot])
    assert isinstance(again, CacheHit)


async def test_a_store_too_large_is_refused(cache_redis: Redis) -> None:
    small = ResultCache(cache_redis, namespace=f"api-{token()}", max_entry_bytes=100)
    key = _key(small, "f")
    assert not await small.store(key, "x" * 200)
    assert await small.lookup([key]) == [None]
