"""Give a worker's guard the result cache its settings ask for."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from async_toolformer.agents.tools import ToolSpec
from async_toolformer.streams.redis.parts import RedisParts
from async_toolformer.streams.redis.result_cache import ResultCache
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics
from async_toolformer.streams.worker.settings import Settings

__all__ = ["attach_result_cache"]


def attach_result_cache(parts: RedisParts, settings: Settings, tools: Iterable[ToolSpec],
                        registry: CollectorRegistry) -> RedisParts:
    """``parts`` with the cache on the ledger's Redis, under the ledger's namespace; none
    without the ledger, with ``TOOLFORMER_RESULT_CACHE=false``, or when no tool caches."""
    specs = list(tools)
    if (not settings.result_cache or parts.guard is None or parts.ledger is None
            or parts.redis is None or not any(s.cache_ttl_s is not None for s in specs)):
        return parts
    cache = ResultCache(parts.redis, namespace=settings.ledger_namespace,
                        max_entry_bytes=settings.max_result_bytes,
                        max_depth=settings.max_json_depth,
                        flight_lease_ms=settings.result_cache_flight_ms,
                        metrics=ResultCacheMetrics(registry))
    parts.guard.use_cache(cache, specs)
    return parts
