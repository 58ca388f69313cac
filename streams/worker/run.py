"""One worker process: the Faust app, the executor agent, the publisher and the metrics server.

``run_worker`` is what ``toolformer worker`` and ``toolformer dev`` run: it starts
everything, serves until ``stop`` is set, then stops taking calls, lets running
ones finish for ``grace_s`` and shuts down. Calls still running then keep their
offsets uncommitted, so another worker picks them up.

It reads nothing from the environment and writes no process-wide metrics: the
host passes the settings, the model settings and, if it wants to read them, the
Prometheus registry. Once up, it tunes the garbage collector
(:mod:`.heap`) unless ``settings.gc_tuning`` is off, so an embedded worker runs
as ``toolformer worker`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from async_toolformer.agents.executor import CallExecutor, CallLimits
from async_toolformer.agents.executor.agent import ExecutorAgent, ResultPublisher
from async_toolformer.agents.executor.kept_cancellations import CancellationRecall
from async_toolformer.agents.log_context import bind_worker
from async_toolformer.agents.sessions.scoring import load_scorers
from async_toolformer.agents.tools import ToolRegistry, load_tools
from async_toolformer.streams.kafka.app import ToolformerApp, create_app
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.redis.cancellation_store import RedisCancellationStore
from async_toolformer.streams.redis.parts import RedisParts, open_redis_parts
from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics
from async_toolformer.streams.redis.recorded_inputs import LedgerInputs
from async_toolformer.streams.redis.result_cache_setup import attach_result_cache
from async_toolformer.streams.worker.heap import settle_heap, young_threshold
from async_toolformer.streams.worker.liveness import LoopLagMonitor
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.metrics import (
    MetricsServer,
    PrometheusObserver,
    WorkerMetrics,
    serve_metrics,
    worker_registry,
)
from async_toolformer.streams.worker.policy_file import worker_policy
from async_toolformer.streams.worker.settings import Settings
from async_toolformer.streams.worker.speculation_setup import Speculation, start_speculation

logger = logging.getLogger(__name__)


@dataclass
class RunningWorker:
    """What a started worker exposes to its host (CLI, dev stack, tests)."""

    app: ToolformerApp
    executor: CallExecutor
    agent: ExecutorAgent
    metrics_port: int | None
    metrics_registry: CollectorRegistry


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    registry: ToolRegistry | None = None,
    grace_s: float = 10.0,
    on_started: Callable[[RunningWorker], None] | None = None,
    llm: LLMSettings | None = None,
    metrics_registry: CollectorRegistry | None = None,
) -> None:
    """Serve calls and sessions until ``stop`` is set.

    ``llm``: the model settings of sessions (without, :meth:`LLMSettings.defaults`);
    ``metrics_registry``: where the worker's and its limiter's metrics are
    recorded and what ``/metrics`` serves (without, a registry of its own, with the
    process figures as well: :func:`.metrics.worker_registry`).
    """
    bootstrap, redis_url = settings.require_services()
    tools = registry if registry is not None else load_tools(settings.tools)
    load_scorers(settings.scorers)
    prometheus = metrics_registry if metrics_registry is not None else worker_registry()
    redis_parts = attach_result_cache(await open_redis_parts(
        settings, redis_url, limiter_metrics=LimiterMetrics(prometheus)), settings, tools,
        prometheus)
    catalogue = TopicCatalogue(settings.topic_prefix)
    security = KafkaSecurity.from_settings(settings)
    await ensure_topics(bootstrap, catalogue, partitions=settings.partitions,
                        replication_factor=settings.replication_factor, security=security)
    publisher = KafkaPublisher(bootstrap, client_id=f"toolformer-{settings.worker_id}",
                               security=security)
    await publisher.start()
    worker_metrics = WorkerMetrics(prometheus)
    observer = PrometheusObserver(worker_metrics)
    publisher.on_refused = worker_metrics.count_refused
    limits = CallLimits(max_depth=settings.max_json_depth,
                        max_argument_items=settings.max_argument_items,
                        max_result_bytes=min(settings.max_result_bytes,
                                             publisher.max_request_size - 4096))
    publish_result = ResultPublisher(publisher, catalogue.results, observer)
    executor = CallExecutor(
        worker_id=settings.worker_id, sink=publish_result, sink_many=publish_result.many,
        max_in_flight=settings.max_in_flight,
        tool_concurrency=settings.tool_concurrency, default_timeout_s=settings.default_timeout_s,
        guard=redis_parts.guard, limits=limits, max_timeout_s=settings.max_timeout_s,
        recorded_inputs=LedgerInputs(redis_parts.ledger) if redis_parts.ledger else None,
    )
    executor.on_queue_wait = observer.queue_wait
    observer.watch_in_flight(lambda: executor.stats.in_flight)
    liveness = LoopLagMonitor(prometheus, max_lag_s=settings.max_loop_lag_s,
                              zombie_threads=lambda: executor.zombie_threads)
    app = create_app(settings, bootstrap)
    agent = ExecutorAgent(
        registry=tools, executor=executor, publisher=publisher,
        publish_result=publish_result, dlq_topic=catalogue.dlq,
        worker_id=settings.worker_id, max_payload_bytes=settings.max_payload_bytes,
        ack=app.ack, observer=observer, limits=limits,
        policy=worker_policy(settings.policy_file),
    )

    async def partitions_revoked(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        agent.partitions_revoked(set(args[0]) if args else set())

    app.on_partitions_revoked.connect(partitions_revoked)

    speculation = _attach(
        app, agent, catalogue, publisher=publisher, registry=tools, settings=settings,
        bootstrap=bootstrap, llm=llm if llm is not None else LLMSettings.defaults(),
        redis_parts=redis_parts, metrics_registry=prometheus)
    server: MetricsServer | None = None
    await app.start()
    liveness.start()
    try:
        if settings.metrics_port is not None:
            server = serve_metrics(prometheus, settings.metrics_port, settings.metrics_host,
                                   health=liveness.check)
        if settings.gc_tuning:
            settle_heap(young_threshold(settings.gc_young_threshold, settings.max_in_flight))
        if on_started is not None:
            on_started(RunningWorker(app, executor, agent,
                                     server.port if server is not None else None, prometheus))
        await stop.wait()
    finally:
        agent.accepting = False
        left = await executor.drain(grace_s)
        if left:
            logger.warning("%d calls still running at shutdown; they will be redelivered", left)
        await app.stop()
        await _close_calls(executor, speculation)
        await publisher.stop()
        await redis_parts.close()
        await liveness.stop()
        if server is not None:
            await asyncio.to_thread(server.close)


def _attach(app: ToolformerApp, agent: ExecutorAgent, catalogue: TopicCatalogue, *,
            publisher: KafkaPublisher, registry: ToolRegistry, settings: Settings,
            bootstrap: str, llm: LLMSettings, redis_parts: RedisParts,
            metrics_registry: CollectorRegistry) -> Speculation | None:
    """Wire the agents into ``app``; the worker's speculation if it is on."""
    from async_toolformer.streams.worker.sessions import install_session_agents

    bind_worker(settings.worker_id)  # the app's tasks start from this one: its logs say whose
    if redis_parts.ledger is not None and redis_parts.redis is not None:
        agent.recall = CancellationRecall(agent.executor.cancellations, RedisCancellationStore(
            redis_parts.redis, namespace=settings.ledger_namespace))
    cancellations = app.topic(catalogue.cancellations, key_serializer="raw",
                              value_serializer="raw")
    speculation = start_speculation(settings, tools=registry, executor=agent.executor,
                                    redis_parts=redis_parts, catalogue=catalogue,
                                    metrics_registry=metrics_registry, policy=agent.policy)

    async def apply_cancellations(stream: Any) -> None:
        await agent.consume_cancellations(stream)

    app.tap(catalogue.calls, agent.take_calls)
    app.agent(cancellations, name="toolformer.apply-cancellations")(apply_cancellations)
    sessions = install_session_agents(
        app, catalogue=catalogue, publisher=publisher, registry=registry,
        bootstrap_servers=bootstrap, worker_id=settings.worker_id,
        default_timeout_s=settings.default_timeout_s, llm=llm,
        ledger=redis_parts.ledger, limiter=redis_parts.limiter,
        security=KafkaSecurity.from_settings(settings),
        session_deadline_s=settings.session_deadline_s, policy=agent.policy,
        outbox_tap=speculation.tap if speculation is not None else None)
    if speculation is not None:
        speculation.attach(sessions.runtime)
    return speculation


async def _close_calls(executor: CallExecutor, speculation: Speculation | None) -> None:
    """Stop speculative runs first (they give their places back), then the executor's."""
    if speculation is not None:
        await speculation.close()
    await executor.close()
