"""Worker processes share one limit: no over-admission, no starvation."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.streams.devtools.bench.ratelimit import run_contention

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_three_processes_share_a_token_bucket(redis_url: str) -> None:
    result = await asyncio.to_thread(run_contention, redis_url, processes=3, rate=100.0,
                                     burst=10.0, duration_s=2.5, tasks=6)
    assert result.allowed == 260.0
    assert result.admitted <= result.allowed  # rate x window + burst, never more
    assert result.admitted >= 0.95 * result.allowed
