"""Switching speculation on in a worker, from its settings (``TOOLFORMER_SPECULATION``).

Speculation needs what answers a real call from a speculative run: the execution
ledger and the result cache in Redis, and at least one tool that may speculate
(read-only, idempotent, with a ``cache_ttl_s``). Without them it stays off and
says why, once, at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from async_toolformer.agents.executor import CallExecutor
from async_toolformer.agents.policy import Policy
from async_toolformer.agents.sessions import SessionRuntime
from async_toolformer.agents.sessions.ports import RecordSink
from async_toolformer.agents.speculation import Predictor, PredictorSettings, TransitionPredictor
from async_toolformer.agents.speculation.budget import SpeculationLimits, may_speculate
from async_toolformer.agents.tools import ToolRegistry
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.redis.parts import RedisParts
from async_toolformer.streams.redis.result_cache import ResultCache
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics
from async_toolformer.streams.worker.settings import Settings
from async_toolformer.streams.worker.speculation import SpeculationRuntime
from async_toolformer.streams.worker.speculation_limits import SpareCapacity
from async_toolformer.streams.worker.speculation_metrics import SpeculationMetrics
from async_toolformer.streams.worker.speculation_tap import SpeculationTap

__all__ = ["Speculation", "start_speculation"]

logger = logging.getLogger(__name__)


@dataclass
class Speculation:
    """A worker's speculation: its runtime and the tap on the session loop's outbox."""

    runtime: SpeculationRuntime
    catalogue: TopicCatalogue
    tap_: SpeculationTap | None = None

    def tap(self, sink: RecordSink) -> RecordSink:
        """Wrap the session loop's outbox (``install_session_agents(outbox_tap=...)``)."""
        self.tap_ = SpeculationTap(sink, self.runtime, calls_topic=self.catalogue.calls,
                                   journal_topic=self.catalogue.session_events)
        return self.tap_

    def attach(self, sessions: SessionRuntime) -> None:
        if self.tap_ is not None:
            self.tap_.attach(sessions)

    async def close(self) -> None:
        await self.runtime.close()


def start_speculation(settings: Settings, *, tools: ToolRegistry, executor: CallExecutor,
                      redis_parts: RedisParts, catalogue: TopicCatalogue,
                      metrics_registry: CollectorRegistry, policy: Policy | None = None,
                      predictor: Predictor | None = None) -> Speculation | None:
    """The worker's speculation, or None when it is off or cannot run (logged); ``policy`` is
    the tenants' policy the worker enforces on real calls (None: every tool allowed)."""
    if not settings.speculation:
        return None
    why_not = _missing(settings, tools, redis_parts)
    if why_not is not None:
        logger.warning("TOOLFORMER_SPECULATION is on but speculation stays off: %s", why_not)
        return None
    assert redis_parts.redis is not None
    limits = SpeculationLimits(share=settings.speculation_share,
                               max_in_flight=settings.speculation_max_in_flight,
                               rate_reserve=settings.speculation_rate_reserve)
    # A handle of its own on the same cache: speculative flights are not real calls'
    # hits and misses, so they are not counted in the cache's metrics.
    cache = ResultCache(redis_parts.redis, namespace=settings.ledger_namespace,
                        max_entry_bytes=settings.max_result_bytes,
                        max_depth=settings.max_json_depth,
                        flight_lease_ms=settings.result_cache_flight_ms,
                        metrics=ResultCacheMetrics())
    rates = (SpareCapacity(redis_parts.limiter, redis_parts.redis, reserve=limits.rate_reserve)
             if redis_parts.limiter is not None else None)
    runtime = SpeculationRuntime(
        predictor=predictor or TransitionPredictor(PredictorSettings(
            precision_target=settings.speculation_precision_target)),
        registry=tools, cache=cache, places=executor, limits=limits,
        worker_max_in_flight=settings.max_in_flight,
        metrics=SpeculationMetrics(metrics_registry), tool_caps=settings.tool_concurrency,
        rates=rates, default_timeout_s=settings.default_timeout_s,
        max_timeout_s=settings.max_timeout_s,
        policy=policy)
    executor.on_cap_full = runtime.yield_place
    speculable = sorted(spec.name for spec in tools if may_speculate(spec))
    logger.info("speculation on for %d tools (%s), share %.2f, at most %d at once",
                len(speculable), ", ".join(speculable[:10]), limits.share,
                limits.worker_cap(settings.max_in_flight))
    return Speculation(runtime, catalogue)


def _missing(settings: Settings, tools: ToolRegistry, redis_parts: RedisParts) -> str | None:
    if redis_parts.redis is None or redis_parts.ledger is None:
        return "it needs the execution ledger (REDIS_URL, TOOLFORMER_LEDGER=true)"
    if not settings.result_cache:
        return "it needs the result cache (TOOLFORMER_RESULT_CACHE=true)"
    if not any(may_speculate(spec) for spec in tools):
        return "no tool is read_only and idempotent with a cache_ttl_s"
    return None
