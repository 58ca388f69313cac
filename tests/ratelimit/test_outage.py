"""Redis stopped mid-run and started again: fail_open and fail_closed as documented.

A real redis-server process is killed under the limiter; no call may be lost,
fail_open must decide locally with the worker's share, fail_closed must hold
calls until Redis is back, and the mode gauge must say which is happening.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)
from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    LimitsConfig,
    RateLimitedError,
    RateLimiter,
)
from async_toolformer.streams.redis.ratelimit.config import FailurePolicy

from .conftest import fresh_namespace

pytestmark = [pytest.mark.connected, pytest.mark.slow]

LIMITS: list[dict[str, Any]] = [
    {"name": "steady", "scope": "tool", "match": "steady", "kind": "token_bucket",
     "rate": 400, "burst": 10},
    {"name": "scarce", "scope": "tool", "match": "scarce", "kind": "token_bucket",
     "rate": 1, "per": "hour", "burst": 20, "backpressure": "reject"},
]


def gauge(limiter: RateLimiter, mode: str) -> float | None:
    return limiter.metrics.registry.get_sample_value("toolformer_ratelimit_mode", {"mode": mode})


def admitted(limiter: RateLimiter, source: str) -> float:
    return limiter.metrics.registry.get_sample_value("toolformer_ratelimit_decisions_total", {
        "limit": "steady", "outcome": "admitted", "source": source}) or 0.0


async def start(redis_process_factory: RedisProcessFactory, policy: FailurePolicy
                ) -> tuple[RedisServerProcess, Redis, RateLimiter]:
    server = await redis_process_factory()
    client = Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.5)
    cfg = LimitsConfig.model_validate({"namespace": fresh_namespace(), "limits": LIMITS,
                                       "worker_share": 0.5})
    limiter = RateLimiter(cfg, client, failure_policy=policy,
                          decision_timeout_s=0.5, probe_interval_s=0.05)
    return server, client, limiter


async def calls(limiter: RateLimiter, n: int, *, tool: str = "steady") -> list[int]:
    done: list[int] = []

    async def call(i: int) -> None:
        async with limiter.admit(CallQuota(tool=tool)):
            done.append(i)

    await asyncio.gather(*(call(i) for i in range(n)))
    return done


async def until(predicate: Any, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling the limiter's public state
            await asyncio.sleep(0.02)


async def test_fail_open_decides_locally_then_returns_to_redis(
        redis_process_factory: RedisProcessFactory) -> None:
    server, client, limiter = await start(redis_process_factory, "fail_open")
    async with limiter:
        assert len(await calls(limiter, 30)) == 30
        assert admitted(limiter, "redis") == 30  # this limiter's own count
        before = admitted(limiter, "local")
        assert before == 0
        # calls in flight when Redis dies: none lost, the rest decided locally
        running = asyncio.create_task(calls(limiter, 300))
        await asyncio.sleep(0.1)
        await server.stop()
        async with asyncio.timeout(20):
            assert sorted(await running) == list(range(300))
        assert limiter.mode == "local"
        assert gauge(limiter, "local") == 1
        assert admitted(limiter, "local") > before
        # the local limiter holds this worker's share: half of a burst of 20
        passed = 0
        for _ in range(30):
            try:
                async with limiter.admit(CallQuota(tool="scarce")):
                    passed += 1
            except RateLimitedError:
                pass
        assert passed == 10
        await server.start()
        await until(lambda: limiter.mode == "redis")
        assert gauge(limiter, "redis") == 1
        from_redis = admitted(limiter, "redis")
        assert len(await calls(limiter, 30)) == 30
        assert admitted(limiter, "redis") == from_redis + 30
    await client.aclose()


async def test_fail_closed_holds_calls_until_redis_returns(
        redis_process_factory: RedisProcessFactory) -> None:
    server, client, limiter = await start(redis_process_factory, "fail_closed")
    async with limiter:
        assert len(await calls(limiter, 30)) == 30
        await server.stop()
        held = asyncio.create_task(calls(limiter, 50))
        await until(lambda: limiter.mode == "waiting")
        await asyncio.sleep(0.3)
        assert not held.done()
        assert gauge(limiter, "waiting") == 1
        local_before = admitted(limiter, "local")
        await server.start()
        async with asyncio.timeout(20):
            assert sorted(await held) == list(range(50))
        assert limiter.mode == "redis"
        assert admitted(limiter, "local") == local_before  # nothing was decided without Redis
    await client.aclose()
