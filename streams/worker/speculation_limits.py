"""Rate limits for speculative calls: only the spare capacity, never a queue.

A real call waits for its limits; a speculative one never does. It first reads
its limits' state from Redis (one round trip, no change) and goes on only if
each would still have ``reserve`` of its capacity free after it; then it asks
for admission in one decision (``admit_many``), which never queues: refused, it
is simply not run. Between the read and the decision real calls may take a
little more, so a speculative call can eat at most its own cost into the
reserve, never past the limit itself. A Redis that does not answer the read
means no speculation.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from async_toolformer.streams.redis.ratelimit import CallQuota, Permit, RateLimiter
from async_toolformer.streams.redis.ratelimit.policy import LimitResolver
from async_toolformer.streams.redis.ratelimit.redis_store import RedisDecisionStore
from async_toolformer.streams.redis.ratelimit.snapshot import state_of

__all__ = ["SpareCapacity"]

logger = logging.getLogger(__name__)


class SpareCapacity:
    """Admits a speculative call only while its limits keep ``reserve`` of their capacity."""

    def __init__(self, limiter: RateLimiter, redis: Redis, *, reserve: float,
                 timeout_s: float = 0.5) -> None:
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"reserve must be in [0, 1), not {reserve}")
        self._limiter = limiter
        self._reserve = reserve
        self._resolver = LimitResolver(limiter.config)
        self._store = RedisDecisionStore(redis, timeout_s=timeout_s)
        self._configs = {limit.name: limit for limit in limiter.config.limits}

    async def admit(self, quota: CallQuota) -> Permit | None:
        """A permit to release when the run ends, or None: not now (nothing was taken)."""
        limits = self._resolver.resolve(quota.tool, quota.service, quota.tenant)
        if limits:
            try:
                now, raw = await self._store.peek(limits)
            except Exception as exc:  # Redis away: real calls have the fallback, not us
                logger.debug("speculation skipped: limits unreadable (%r)", exc)
                return None
            for bound, value in zip(limits, raw, strict=True):
                state = state_of(self._configs[bound.name], bound, "", value, now)
                if state.available - bound.cost_of(quota.cost) < self._reserve * state.capacity:
                    return None
        (permit,) = await self._limiter.admit_many([quota])
        return permit
