"""A worker killed while holding concurrency permits: they come back on their own."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from async_toolformer.streams.redis.ratelimit import CallQuota, RateLimiter, load_limits

pytestmark = [pytest.mark.connected, pytest.mark.slow]

LIMITS = """
namespace = "{namespace}"
[[limits]]
name = "pool"
scope = "service"
match = "crawler"
kind = "concurrency"
max_in_flight = 3
lease_s = 1
"""

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from redis.asyncio import Redis
    from async_toolformer.streams.redis.ratelimit import CallQuota, RateLimiter, load_limits

    async def main():
        limiter = RateLimiter(load_limits(sys.argv[1]), Redis.from_url(sys.argv[2]))
        quota = CallQuota(tool="fetch", service="crawler")
        held = [limiter.admit(quota) for _ in range(2)]
        for permit in held:
            await permit.__aenter__()
        print("held", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_permits_of_a_killed_worker_expire(tmp_path: Path, redis_url: str,
                                                 limits_redis: Redis, namespace: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(LIMITS.format(namespace=namespace))
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), redis_url, stdout=asyncio.subprocess.PIPE)
    try:
        assert holder.stdout is not None
        async with asyncio.timeout(30):
            assert (await holder.stdout.readline()).strip() == b"held"
        killed_at = time.monotonic()
        holder.kill()  # no release, no renewal: only the leases can bring them back
        await holder.wait()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
    async with RateLimiter(load_limits(path), limits_redis) as limiter:
        [state] = await limiter.snapshot()
        assert state.available == 1
        quota = CallQuota(tool="fetch", service="crawler")
        async with asyncio.timeout(5):
            async with limiter.admit(quota), limiter.admit(quota), limiter.admit(quota):
                waited = time.monotonic() - killed_at
        assert waited > 0.3  # the third permit had to wait for a lease to lapse
