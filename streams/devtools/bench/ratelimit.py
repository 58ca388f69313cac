"""Benchmark of the rate limiter against a real Redis, with its baseline in the same run.

``bench_ratelimit(url)`` measures one decision at a time (p50, p99) interleaved
with plain GETs on the same client (the floor a decision is compared with),
decisions per second on one worker (``admit_many`` in waves of 3,000, as a
worker admits a fetch's calls; and ``admit`` per call, 3,000 at once), and the
admitted ratio when three worker processes share one limit (admitted /
(rate x window + burst)).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from typing import Any

from redis.asyncio import Redis

from async_toolformer.streams.redis.client import redis_client
from async_toolformer.streams.redis.ratelimit import CallQuota, LimitsConfig, RateLimiter

__all__ = ["ContentionResult", "bench_ratelimit", "run_contention"]

_SINGLE_ROUNDS = 3_000
_BATCHED_DECISIONS = 60_000
_WAVE = 3_000


async def bench_ratelimit(redis_url: str) -> dict[str, float]:
    """All figures of ``toolformer bench ratelimit`` (keys cleaned up afterwards)."""
    namespace = f"bench-{uuid.uuid4().hex[:10]}"
    client = redis_client(redis_url)
    config = _config(namespace, rate=1e9, burst=1e9)
    try:
        async with RateLimiter(config, client) as limiter:
            single = await _one_at_a_time(client, limiter, namespace)
            per_s = await _bulk(limiter)
            one_by_one_per_s = await _batched(limiter)
        contention = await asyncio.to_thread(run_contention, redis_url)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{{{namespace}}}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    return {**single, "decisions_per_s": per_s,
            "decisions_one_by_one_per_s": one_by_one_per_s, "admitted_ratio": contention.ratio,
            "contention_admitted": float(contention.admitted),
            "contention_allowed": contention.allowed}


def _config(namespace: str, *, rate: float, burst: float) -> LimitsConfig:
    return LimitsConfig.model_validate({"namespace": namespace, "limits": [
        {"name": "bench", "scope": "global", "kind": "token_bucket", "rate": rate,
         "burst": burst}]})


async def _one_at_a_time(client: Redis, limiter: RateLimiter, namespace: str
                         ) -> dict[str, float]:
    quota, key = CallQuota(tool="bench"), f"{{{namespace}}}:baseline"
    await client.set(key, b"x")
    gets: list[float] = []
    decisions: list[float] = []
    for _ in range(200):  # warm up: connections, script cache
        await client.get(key)
        async with limiter.admit(quota):
            pass
    for _ in range(_SINGLE_ROUNDS):
        started = time.perf_counter()
        await client.get(key)
        gets.append(time.perf_counter() - started)
        started = time.perf_counter()
        async with limiter.admit(quota):
            pass
        decisions.append(time.perf_counter() - started)
    cuts = statistics.quantiles(decisions, n=100)
    return {"decision_p50_ms": statistics.median(decisions) * 1000,
            "decision_p99_ms": cuts[98] * 1000,
            "baseline_get_p50_ms": statistics.median(gets) * 1000}


async def _bulk(limiter: RateLimiter) -> float:
    quotas = [CallQuota(tool="bench")] * _WAVE
    await limiter.admit_many(quotas)  # warm up
    started = time.perf_counter()
    for _ in range(_BATCHED_DECISIONS // _WAVE):
        for permit in await limiter.admit_many(quotas):
            if permit is not None:
                permit.release()
    return _BATCHED_DECISIONS / (time.perf_counter() - started)


async def _batched(limiter: RateLimiter) -> float:
    quota = CallQuota(tool="bench")

    async def one() -> None:
        async with limiter.admit(quota):
            pass

    started = time.perf_counter()
    for _ in range(_BATCHED_DECISIONS // _WAVE):
        await asyncio.gather(*(one() for _ in range(_WAVE)))
    return _BATCHED_DECISIONS / (time.perf_counter() - started)


@dataclass(frozen=True)
class ContentionResult:
    admitted: int
    allowed: float  # rate x duration + burst

    @property
    def ratio(self) -> float:
        return self.admitted / self.allowed


def run_contention(redis_url: str, *, processes: int = 3, rate: float = 200.0,
                   burst: float = 20.0, duration_s: float = 3.0, tasks: int = 8
                   ) -> ContentionResult:
    """``processes`` workers, ``tasks`` callers each, share one limit from the same instant.

    Blocking (it waits for the processes); the limit's key is fresh, so its
    bucket is full at the start and at most ``rate x duration + burst`` may pass.
    """
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1, timeout=60)
    start_at = ctx.Value("d", 0.0)
    results: Any = ctx.Queue()
    plan = _Plan(redis_url, f"bench-{uuid.uuid4().hex[:10]}", rate, burst, duration_s, tasks)
    args = (plan, barrier, start_at, results)
    workers = [ctx.Process(target=_contention_worker, args=args, daemon=True)
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait()  # every worker is connected and ready
        start_at.value = time.time() + 0.2
        barrier.wait()  # ... and may read start_at
        admitted = sum(int(results.get(timeout=duration_s + 60)) for _ in workers)
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    return ContentionResult(admitted, rate * duration_s + burst)


@dataclass(frozen=True)
class _Plan:
    redis_url: str
    namespace: str
    rate: float
    burst: float
    duration_s: float
    tasks: int


def _contention_worker(plan: _Plan, barrier: Barrier, start_at: Any, results: Any) -> None:
    results.put(asyncio.run(_contend(plan, barrier, start_at)))


async def _contend(plan: _Plan, barrier: Barrier, start_at: Any) -> int:
    client = redis_client(plan.redis_url)
    admitted = 0
    config = _config(plan.namespace, rate=plan.rate, burst=plan.burst)
    async with RateLimiter(config, client) as limiter:
        await client.ping()
        await asyncio.to_thread(barrier.wait)
        await asyncio.to_thread(barrier.wait)
        start = float(start_at.value)
        end = start + plan.duration_s
        await asyncio.sleep(max(0.0, start - time.time()))

        async def caller() -> None:
            nonlocal admitted
            while time.time() < end:
                async with limiter.admit(CallQuota(tool="bench")):
                    if time.time() <= end:
                        admitted += 1

        runners = [asyncio.create_task(caller()) for _ in range(plan.tasks)]
        await asyncio.sleep(max(0.0, end - time.time()))
        await asyncio.sleep(0.05)
        for runner in runners:
            runner.cancel()
        await asyncio.gather(*runners, return_exceptions=True)
    await client.aclose()
    return admitted
