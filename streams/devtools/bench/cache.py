"""``toolformer bench cache``: the latency of a cache hit against an echo call, in one run.

One worker process serves both, on the same topics, driven one call at a time
from publish to result: an ``echo`` call (the pipeline's floor: claim, run,
record, publish) and a call of :func:`bench_cached_lookup` whose result is
already cached (claim and cache lookup in one step, record, publish). The two
take turns, so load on the machine falls on both alike. The figure is the
ratio of their medians, ``cache_hit_p50_ratio``, per round and its median over
the rounds; every hit is checked to have said ``cached``, and any that did not
is reported as a miss. Importing this module registers the tool (the worker
loads it with ``TOOLFORMER_TOOLS``).

``cache_figures(settings)`` measures on services already up (the speculation
benchmark calls it on its own stack); ``bench_cache(settings)`` starts the
stack first.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

import orjson
from pydantic import Field

from async_toolformer.agents.tools import tool
from async_toolformer.schemas import ToolCallRequested, encode
from async_toolformer.streams.devtools.bench.harness import Driver, median, percentile
from async_toolformer.streams.devtools.bench.pipeline import echo_calls, running_worker
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.worker.settings import Settings

__all__ = ["TOOLS_MODULE", "bench_cache", "bench_cached_lookup", "cache_figures"]

TOOLS_MODULE = "async_toolformer.streams.devtools.bench.cache"
_MISS_MS = 50  # what a run of the tool costs: a miss would show in any percentile


@tool(read_only=True, idempotent=True, cache_ttl_s=3_600)
async def bench_cached_lookup(key: Annotated[str, Field(min_length=1, max_length=200)]
                              ) -> dict[str, str]:
    """A read-only lookup that takes 50 ms; its results are cached for an hour."""
    await asyncio.sleep(_MISS_MS / 1000)
    return {"key": key, "value": key.upper()}


class _Replies:
    """Reads each reply's call_id for the driver, and remembers whether it said cached."""

    def __init__(self) -> None:
        self.cached: dict[str, bool] = {}

    def __call__(self, value: bytes) -> str:
        reply = orjson.loads(value)
        call_id: str = reply["call_id"]
        self.cached[call_id] = bool(reply.get("cached"))
        return call_id


async def cache_figures(settings: Settings, *, samples: int = 150, rounds: int = 3
                        ) -> dict[str, Any]:
    """The figures, on the services of ``settings`` (a started stack's settings)."""
    run = f"cache{uuid.uuid4().hex[:8]}"
    ratios: list[float] = []
    hits: list[float] = []
    echoes: list[float] = []
    misses = 0
    async with running_worker(settings, run, TOOLFORMER_TOOLS=orjson.dumps(
            [TOOLS_MODULE]).decode()) as (driver, _):
        replies = _Replies()
        driver.reply_id = replies
        await driver.round_trips_ms(_lookups(f"{run}-fill", 1))  # the miss that fills it
        for r in range(rounds):
            hit_ms: list[float] = []
            echo_ms: list[float] = []
            lookups = _lookups(f"{run}-h{r}", samples)
            plain = echo_calls(f"{run}-e{r}", samples)
            for i in range(samples):
                pair = [(lookups[i], hit_ms), (plain[i], echo_ms)]
                for record, into in (pair if i % 2 else pair[::-1]):
                    into.extend(await _one(driver, record))
            misses += sum(not replies.cached.get(call_id, False) for call_id, _, _ in lookups)
            ratios.append(median(hit_ms) / median(echo_ms))
            hits += hit_ms
            echoes += echo_ms
    return {
        "cache_hit_p50_ratio": median(ratios),
        "cache_hit_p50_ratio_rounds": [round(x, 3) for x in ratios],
        "cache_hit_p50_ms": median(hits),
        "cache_hit_p90_ms": percentile(hits, 0.9),
        "cache_hit_range_ms": [round(min(hits), 3), round(max(hits), 3)],
        "echo_p50_ms": median(echoes),
        "echo_p90_ms": percentile(echoes, 0.9),
        "echo_range_ms": [round(min(echoes), 3), round(max(echoes), 3)],
        "cache_hit_misses": misses,  # lookups that were not answered from the cache
        "samples_per_round": samples,
        "rounds": rounds,
        "target_ratio": 1.2,
    }


async def bench_cache(settings: Settings, *, samples: int = 150, rounds: int = 3
                      ) -> dict[str, Any]:
    """:func:`cache_figures` on the settings' services, or the embedded stack."""
    run = f"cache{uuid.uuid4().hex[:8]}"
    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}."})) as stack:
        return await cache_figures(stack.settings, samples=samples, rounds=rounds)


def _lookups(tag: str, n: int) -> list[tuple[str, bytes, bytes]]:
    """``n`` calls of the same lookup (one cache key), each a call of its own."""
    records = []
    for i in range(n):
        session = f"{tag}-s{i % 64}"
        call = ToolCallRequested(call_id=f"{tag}-{i}", session_id=session,
                                 tool="bench_cached_lookup", arguments={"key": "hot"})
        records.append((call.call_id, session.encode(), encode(call)))
    return records


async def _one(driver: Driver, record: tuple[str, bytes, bytes]) -> list[float]:
    return await driver.round_trips_ms([record])
