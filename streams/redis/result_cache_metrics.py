"""Prometheus metrics of the result cache, registered on the registry its host gives.

Only calls of tools that declare ``cache_ttl_s`` touch them, so the lock each
prometheus-client increment takes costs nothing on the hot path of other tools.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["ResultCacheMetrics"]


class ResultCacheMetrics:
    """Hits, misses, joins, bytes and failures of the result cache, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.hits = Counter(
            "toolformer_result_cache_hits",
            "Calls answered from a fresh cached result, by tool (joins that ended in one too).",
            ["tool"], registry=self.registry)
        self.misses = Counter(
            "toolformer_result_cache_misses",
            "Calls of a caching tool that found no fresh result and ran it, by tool.",
            ["tool"], registry=self.registry)
        self.joins = Counter(
            "toolformer_result_cache_joins",
            "Calls that waited for an identical call's run instead of running (single flight).",
            ["tool"], registry=self.registry)
        self.bytes = Counter(
            "toolformer_result_cache_bytes",
            "Bytes of cached entries read (answers given) and written (results stored).",
            ["direction"], registry=self.registry)
        self.uncacheable = Counter(
            "toolformer_result_cache_uncacheable",
            "Calls of a caching tool run uncached because their arguments have no key "
            "(not_finite, too_deep, too_large, too_many, unsupported, invalid_arguments) or "
            "their result could not be stored (result_too_large).",
            ["reason"], registry=self.registry)
        self.errors = Counter(
            "toolformer_result_cache_errors",
            "Cache failures, each answered by running the tool: unavailable (Redis did not "
            "answer or refused), undecodable (an entry that is not ours; read as a miss).",
            ["kind"], registry=self.registry)
