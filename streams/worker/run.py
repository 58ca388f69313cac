"""One worker process: the Faust app, the executor agent, the publisher and the metrics server.

``run_worker`` is what ``toolformer worker`` and ``toolformer dev`` run: it starts
everything, serves until ``stop`` is set, then stops taking calls, lets running
ones finish for ``grace_s`` and shuts down. Calls still running then keep their
offsets uncommitted, so another worker picks them up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from async_toolformer.agents.executor import CallExecutor
from async_toolformer.agents.executor.agent import ExecutorAgent, ResultPublisher
from async_toolformer.agents.sessions.scoring import load_scorers
from async_toolformer.agents.tools import ToolRegistry, load_tools
from async_toolformer.streams.kafka.app import ToolformerApp, create_app
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.redis.parts import RedisParts, open_redis_parts
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.metrics import PrometheusObserver, serve_metrics
from async_toolformer.streams.worker.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class RunningWorker:
    """What a started worker exposes to its host (CLI, dev stack, tests)."""

    app: ToolformerApp
    executor: CallExecutor
    agent: ExecutorAgent
    metrics_port: int | None


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    registry: ToolRegistry | None = None,
    grace_s: float = 10.0,
    on_started: Callable[[RunningWorker], None] | None = None,
    llm: LLMSettings | None = None,
) -> None:
    """Serve calls and sessions until ``stop`` is set (``llm``: the model, else from env)."""
    bootstrap, redis_url = settings.require_services()
    tools = registry if registry is not None else load_tools(settings.tools)
    load_scorers(settings.scorers)
    redis_parts = await open_redis_parts(settings, redis_url)
    catalogue = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(bootstrap, catalogue, partitions=settings.partitions,
                        replication_factor=settings.replication_factor)
    publisher = KafkaPublisher(bootstrap, client_id=f"toolformer-{settings.worker_id}")
    await publisher.start()
    observer = PrometheusObserver()
    publish_result = ResultPublisher(publisher, catalogue.results, observer)
    executor = CallExecutor(
        worker_id=settings.worker_id, sink=publish_result, sink_many=publish_result.many,
        max_in_flight=settings.max_in_flight,
        tool_concurrency=settings.tool_concurrency, default_timeout_s=settings.default_timeout_s,
        guard=redis_parts.guard, max_timeout_s=settings.max_timeout_s,
    )
    executor.on_queue_wait = observer.queue_wait
    observer.watch_in_flight(lambda: executor.stats.in_flight)
    app = create_app(settings, bootstrap)
    agent = ExecutorAgent(
        registry=tools, executor=executor, publisher=publisher,
        publish_result=publish_result, dlq_topic=catalogue.dlq,
        worker_id=settings.worker_id, max_payload_bytes=settings.max_payload_bytes,
        ack=app.ack, observer=observer,
    )

    async def partitions_revoked(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        agent.partitions_revoked(set(args[0]) if args else set())

    app.on_partitions_revoked.connect(partitions_revoked)

    _attach(app, agent, catalogue, publisher=publisher, registry=tools, settings=settings,
            bootstrap=bootstrap, llm=llm, redis_parts=redis_parts)
    metrics_port = None
    if settings.metrics_port is not None:
        metrics_port = serve_metrics(settings.metrics_port, settings.metrics_host)
    await app.start()
    try:
        if on_started is not None:
            on_started(RunningWorker(app, executor, agent, metrics_port))
        await stop.wait()
    finally:
        agent.accepting = False
        left = await executor.drain(grace_s)
        if left:
            logger.warning("%d calls still running at shutdown; they will be redelivered", left)
        await app.stop()
        await executor.close()
        await publisher.stop()
        await redis_parts.close()


def _attach(app: ToolformerApp, agent: ExecutorAgent, catalogue: TopicCatalogue, *,
            publisher: KafkaPublisher, registry: ToolRegistry, settings: Settings,
            bootstrap: str, llm: LLMSettings | None, redis_parts: RedisParts) -> None:
    from async_toolformer.streams.worker.sessions import install_session_agents

    cancellations = app.topic(catalogue.cancellations, key_serializer="raw",
                              value_serializer="raw")

    async def apply_cancellations(stream: Any) -> None:
        await agent.consume_cancellations(stream)

    app.tap(catalogue.calls, agent.take_calls)
    app.agent(cancellations, name="toolformer.apply-cancellations")(apply_cancellations)
    install_session_agents(app, catalogue=catalogue, publisher=publisher, registry=registry,
                           bootstrap_servers=bootstrap, worker_id=settings.worker_id,
                           default_timeout_s=settings.default_timeout_s, llm=llm,
                           ledger=redis_parts.ledger, limiter=redis_parts.limiter)
