"""The Redis side of a worker: one client shared by the execution ledger and the limiter."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis

from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.client import (
    check_redis_access,
    redis_client,
    redis_security_options,
)
from async_toolformer.streams.redis.durability import warn_if_ledger_fragile
from async_toolformer.streams.redis.ledger import ExecutionLedger
from async_toolformer.streams.redis.ratelimit import RateLimiter, load_limits
from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics
from async_toolformer.streams.worker.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class RedisParts:
    """What the worker built on Redis; ``guard`` is None when nothing needs it."""

    redis: Redis | None
    ledger: ExecutionLedger | None
    limiter: RateLimiter | None
    guard: LedgerGuard | None

    async def close(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()
        if self.redis is not None:
            await self.redis.aclose()


async def open_redis_parts(settings: Settings, redis_url: str | None, *,
                           limiter_metrics: LimiterMetrics | None = None) -> RedisParts:
    """Build the ledger and the limiter the settings ask for (its metrics: ``limiter_metrics``).

    Without ``REDIS_URL`` a worker still runs, at least once and unlimited, and
    says so: the ledger and the rate limits both live in Redis.
    """
    limits = load_limits(settings.limits_file) if settings.limits_file else None
    if redis_url is None:
        if limits is not None:
            from async_toolformer.streams.exceptions import ConfigurationError

            raise ConfigurationError(
                f"{settings.limits_file} sets rate limits, which live in Redis, but REDIS_URL "
                "is not set; point REDIS_URL at a Redis server")
        logger.warning("REDIS_URL is not set: no execution ledger (a redelivered call runs "
                       "again) and no rate limits")
        return RedisParts(None, None, None, None)
    # The ledger and the limiter batch their commands, so few connections are busy at
    # once; the pool's cap is only a guard. (A BlockingConnectionPool would wait instead
    # of failing past the cap, but it cost ~100 µs of CPU per call in the pipeline.)
    redis = redis_client(redis_url, max_connections=1024,
                         socket_timeout=settings.redis_socket_timeout_s,
                         socket_connect_timeout=settings.redis_connect_timeout_s,
                         **redis_security_options(settings))
    try:
        await check_redis_access(redis, redis_url)
    except BaseException:
        await redis.aclose()
        raise
    ledger = None
    if settings.ledger:
        ledger = ExecutionLedger(redis, namespace=settings.ledger_namespace,
                                 lease_ms=settings.lease_ms,
                                 retention_s=settings.result_retention_s,
                                 linger_ms=settings.ledger_linger_ms)
        await warn_if_ledger_fragile(redis)  # persistence and eviction, logged once
    limiter = (RateLimiter(limits, redis, metrics=limiter_metrics)
               if limits is not None else None)
    guard = (LedgerGuard(ledger, limiter, worker_id=settings.worker_id)
             if ledger is not None or limiter is not None else None)
    return RedisParts(redis, ledger, limiter, guard)
