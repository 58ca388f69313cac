"""RateLimiter.admit on a real Redis: free calls, waiting in order, reject, leases, batching."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    LimitsConfig,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiter,
)

pytestmark = pytest.mark.connected


def config(namespace: str, *limits: dict[str, Any]) -> LimitsConfig:
    return LimitsConfig.model_validate({"namespace": namespace, "limits": list(limits)})


def bucket(name: str, match: str, rate: float, burst: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "scope": "tool", "match": match, "kind": "token_bucket",
            "rate": rate, "burst": burst, **extra}


async def test_a_call_no_limit_applies_to_never_reaches_redis(namespace: str) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens
    limiter = RateLimiter(config(namespace, bucket("b", "search", 1, 1)), dead)
    async with limiter:
        for _ in range(100):
            async with limiter.admit(CallQuota(tool="other")):
                pass
        assert limiter._batcher.batches_sent == 0
        assert limiter.mode == "redis"
    await dead.aclose()


async def test_reject_raises_with_retry_after(limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace, bucket("strict", "search", 10, 2, backpressure="reject"))
    async with RateLimiter(cfg, limits_redis) as limiter:
        for _ in range(2):
            async with limiter.admit(CallQuota(tool="search")):
                pass
        with pytest.raises(RateLimitedError) as info:
            async with limiter.admit(CallQuota(tool="search")):
                pytest.fail("a rejected call must not run")
        assert info.value.limit == "strict"
        assert 0 < info.value.retry_after_ms <= 100


async def test_waiting_calls_pass_in_arrival_order_and_other_limits_do_not_wait(
        limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace, bucket("slow", "slow", 50, 1), bucket("fast", "fast", 1000, 100))
    order: list[str] = []
    async with RateLimiter(cfg, limits_redis) as limiter:

        async def call(tool: str, name: str) -> None:
            async with limiter.admit(CallQuota(tool=tool)):
                order.append(name)

        slow = [asyncio.create_task(call("slow", f"s{i}")) for i in range(6)]
        await asyncio.sleep(0.005)  # s1..s5 are queued now
        await call("fast", "f")
        await asyncio.gather(*slow)
    assert [name for name in order if name.startswith("s")] == [f"s{i}" for i in range(6)]
    assert order.index("f") < order.index("s2")  # 'fast' did not queue behind 'slow'


async def test_concurrency_permits_are_held_while_running_and_given_back(
        limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace, {"name": "pool", "scope": "service", "match": "crawler",
                             "kind": "concurrency", "max_in_flight": 3, "lease_s": 5})
    running, peak = 0, 0
    async with RateLimiter(cfg, limits_redis) as limiter:

        async def call() -> None:
            nonlocal running, peak
            async with limiter.admit(CallQuota(tool="fetch", service="crawler")):
                running += 1
                peak = max(peak, running)
                await asyncio.sleep(0.01)
                running -= 1

        await asyncio.gather(*(call() for _ in range(20)))
        [state] = await limiter.snapshot()
    assert peak == 3
    assert state.available == 3  # every permit came back


async def test_cost_weighted_limits_hold_at_once(limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace,
                 {"name": "requests", "scope": "service", "match": "llm", "kind": "token_bucket",
                  "rate": 100, "per": "minute", "backpressure": "reject"},
                 {"name": "tokens", "scope": "service", "match": "llm", "kind": "token_bucket",
                  "units": "cost", "rate": 1000, "per": "minute", "backpressure": "reject"})
    async with RateLimiter(cfg, limits_redis) as limiter:
        for _ in range(3):
            async with limiter.admit(CallQuota(tool="chat", service="llm", cost=300)):
                pass
        with pytest.raises(RateLimitedError) as info:
            async with limiter.admit(CallQuota(tool="chat", service="llm", cost=300)):
                pass
        assert info.value.limit == "tokens"
        with pytest.raises(QuotaTooLargeError, match="tokens"):
            async with limiter.admit(CallQuota(tool="chat", service="llm", cost=5000)):
                pass
        states = {state.limit: state for state in await limiter.snapshot()}
    assert states["requests"].available == pytest.approx(97, abs=0.1)
    assert states["tokens"].available == pytest.approx(100, abs=1)


async def test_ready_calls_share_one_round_trip(limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace, bucket("big", "*", 1e6, 1e6))
    async with RateLimiter(cfg, limits_redis) as limiter:

        async def call(i: int) -> None:
            async with limiter.admit(CallQuota(tool=f"t{i % 7}")):
                pass

        await asyncio.gather(*(call(i) for i in range(500)))
        assert limiter._batcher.batches_sent <= 2
        subjects = sorted(state.subject for state in await limiter.snapshot())
    assert subjects == [f"t{i}" for i in range(7)]


async def test_per_tenant_windows_are_separate(limits_redis: Redis, namespace: str) -> None:
    cfg = config(namespace, {"name": "tenant", "scope": "tenant", "kind": "sliding_window",
                             "rate": 2, "per": "minute", "backpressure": "reject"})
    async with RateLimiter(cfg, limits_redis) as limiter:
        for tenant in ("a", "a", "b", "b"):
            async with limiter.admit(CallQuota(tool="x", tenant=tenant)):
                pass
        with pytest.raises(RateLimitedError):
            async with limiter.admit(CallQuota(tool="x", tenant="a")):
                pass


async def test_a_cancelled_waiter_gives_its_permit_back(limits_redis: Redis,
                                                        namespace: str) -> None:
    cfg = config(namespace, {"name": "one", "scope": "global", "kind": "concurrency",
                             "max_in_flight": 1, "poll_ms": 5})
    async with RateLimiter(cfg, limits_redis) as limiter:
        gate = asyncio.Event()

        async def hold() -> None:
            async with limiter.admit(CallQuota(tool="x")):
                await gate.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        waiter = asyncio.create_task(hold())
        await asyncio.sleep(0.02)
        waiter.cancel()
        gate.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiter
        async with asyncio.timeout(2):
            async with limiter.admit(CallQuota(tool="x")):
                pass
        [state] = await limiter.snapshot()
    assert state.available == 1
