"""Distributed rate limiting in Redis: token bucket (GCRA), sliding window,
concurrency leases and cost-weighted limits, decided for all limits of a call
in one Lua round trip on Redis server time, batched per loop tick.

    limiter = RateLimiter(load_limits("limits.toml"), redis)
    async with limiter.admit(CallQuota(tool="search", service="search-api")):
        ...  # run the tool

The calls of one fetch are admitted in one decision with ``admit_many``: those
admitted start at once (``permit.release()`` when they end); the others enter
``admit`` and wait there.

See :mod:`.config` for the file format and an example.
"""

from async_toolformer.streams.redis.ratelimit.config import (
    ConcurrencyLimit,
    Limit,
    LimitsConfig,
    SlidingWindowLimit,
    TokenBucketLimit,
)
from async_toolformer.streams.redis.ratelimit.exceptions import (
    LimitsConfigError,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimitError,
    RateLimiterUnavailableError,
)
from async_toolformer.streams.redis.ratelimit.limiter import CallQuota, Permit, RateLimiter
from async_toolformer.streams.redis.ratelimit.loader import load_limits, parse_limits
from async_toolformer.streams.redis.ratelimit.snapshot import LimitState

__all__ = [
    "CallQuota",
    "ConcurrencyLimit",
    "Limit",
    "LimitState",
    "LimitsConfig",
    "LimitsConfigError",
    "Permit",
    "QuotaTooLargeError",
    "RateLimitError",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "SlidingWindowLimit",
    "TokenBucketLimit",
    "load_limits",
    "parse_limits",
]
