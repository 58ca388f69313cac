"""RateLimiter.admit_many on a real Redis: the same admissions as one call at a time."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from redis.asyncio import Redis

from async_toolformer.streams.redis.ratelimit import CallQuota, LimitsConfig, RateLimiter

pytestmark = pytest.mark.connected

# Slow enough that the few milliseconds between two decisions refill nothing.
LIMITS: list[dict[str, Any]] = [
    {"name": "search-bucket", "scope": "tool", "match": "search", "kind": "token_bucket",
     "rate": 1, "per": "minute", "burst": 5},
    {"name": "llm-tokens", "scope": "service", "match": "llm", "kind": "token_bucket",
     "units": "cost", "rate": 1, "per": "minute", "burst": 100},
    {"name": "tenant-window", "scope": "tenant", "match": "*", "kind": "sliding_window",
     "rate": 7, "per": "minute"},
    {"name": "crawl-in-flight", "scope": "tool", "match": "crawl", "kind": "concurrency",
     "max_in_flight": 2},
]

QUOTAS = [
    *(CallQuota(tool="search", tenant=f"t{i % 2}") for i in range(7)),
    *(CallQuota(tool="ask", service="llm", tenant="t2", cost=c) for c in (40, 50, 30, 10, 5)),
    *(CallQuota(tool="crawl", tenant="t3") for _ in range(4)),
    CallQuota(tool="free"),
    *(CallQuota(tool="crawl", tenant="t0") for _ in range(2)),
]


def config(namespace: str) -> LimitsConfig:
    return LimitsConfig.model_validate({"namespace": namespace, "limits": LIMITS})


async def one_by_one(limiter: RateLimiter, quotas: list[CallQuota],
                     held: contextlib.AsyncExitStack) -> list[bool]:
    """Enter ``admit`` for each quota in turn; a call still waiting after a while was not
    admitted (none of these limits refills or frees a permit meanwhile)."""
    admitted = []
    for quota in quotas:
        try:
            await asyncio.wait_for(held.enter_async_context(limiter.admit(quota)), 0.3)
        except TimeoutError:
            admitted.append(False)
        else:
            admitted.append(True)
    return admitted


async def test_bulk_admission_admits_exactly_what_one_by_one_admission_does(
        limits_redis: Redis, namespace: str) -> None:
    async with (RateLimiter(config(f"{namespace}-one"), limits_redis) as single,
                contextlib.AsyncExitStack() as held):
        expected = await one_by_one(single, QUOTAS, held)
    async with RateLimiter(config(f"{namespace}-bulk"), limits_redis) as bulk:
        permits = await bulk.admit_many(QUOTAS)
        try:
            assert [p is not None for p in permits] == expected
            assert expected.count(True) not in (0, len(QUOTAS))  # both kinds were decided
            assert bulk._batcher.batches_sent == 1  # one decision for all of them
        finally:
            for permit in permits:
                if permit is not None:
                    permit.release()
    for suffix in ("-one", "-bulk"):
        keys = [k async for k in limits_redis.scan_iter(match=f"{{{namespace}{suffix}}}:*")]
        if keys:
            await limits_redis.delete(*keys)


async def test_released_permits_admit_the_next_ones(limits_redis: Redis,
                                                    namespace: str) -> None:
    async with RateLimiter(config(namespace), limits_redis) as limiter:
        crawl = CallQuota(tool="crawl")
        first = await limiter.admit_many([crawl] * 3)
        assert [p is not None for p in first] == [True, True, False]
        assert first[0] is not None
        first[0].release()
        first[0].release()  # twice gives back once
        second = await limiter.admit_many([crawl] * 2)
        assert [p is not None for p in second] == [True, False]
        waiter = asyncio.create_task(enter_and_leave(limiter, crawl))
        await asyncio.sleep(0.05)
        assert not waiter.done()  # the call that must wait waits in ``admit``
        # Behind a waiter of its key, a call is not decided at all: it queues in ``admit``.
        assert await limiter.admit_many([crawl]) == [None]
        for permit in (first[1], second[0]):
            assert permit is not None
            permit.release()
        await asyncio.wait_for(waiter, 10)  # woken by the release
        states = {s.subject: s for s in await limiter.snapshot() if s.limit == "crawl-in-flight"}
        assert states["crawl"].available == states["crawl"].capacity


async def enter_and_leave(limiter: RateLimiter, quota: CallQuota) -> None:
    async with limiter.admit(quota):
        pass


async def test_a_caller_that_gives_up_holds_no_permit(limits_redis: Redis,
                                                      namespace: str) -> None:
    async with RateLimiter(config(namespace), limits_redis) as limiter:
        crawl = CallQuota(tool="crawl")
        blocker = asyncio.create_task(limiter.admit_many([crawl]))  # its batch is in flight
        gave_up = asyncio.create_task(limiter.admit_many([crawl, crawl]))  # queued behind it
        await asyncio.sleep(0)
        gave_up.cancel()
        (permit,) = await blocker
        with pytest.raises(asyncio.CancelledError):
            await gave_up
        assert permit is not None
        await limiter._batcher.drain()
        again = await limiter.admit_many([crawl])
        assert again[0] is not None  # the cancelled caller's permit went back
        for held in (permit, again[0]):
            held.release()
