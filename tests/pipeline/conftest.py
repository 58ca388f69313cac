"""Workers running in the test's event loop, each on topics of its own, and clients for them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest_asyncio

from async_toolformer.agents.tools import load_tools
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

TEST_TOOLS = "tests.pipeline.tools_for_tests"


@dataclass
class Pipeline:
    """A running worker and a client on the same topics."""

    settings: Settings
    worker: RunningWorker
    client: ToolformerClient
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def topics(self) -> TopicCatalogue:
        return TopicCatalogue(self.settings.topic_prefix)


PipelineFactory = Callable[..., Awaitable[Pipeline]]


@pytest_asyncio.fixture(loop_scope="session")
async def pipeline_factory(kafka_bootstrap: str, redis_url: str
                           ) -> AsyncIterator[PipelineFactory]:
    """Start a worker (settings overridable) and a client on fresh topics; stop both after."""
    started: list[Pipeline] = []

    async def start(**overrides: object) -> Pipeline:
        name = f"t{uuid.uuid4().hex[:10]}"
        values: dict[str, object] = {
            "kafka_bootstrap_servers": kafka_bootstrap, "topic_prefix": f"{name}.",
            "group_id": f"{name}-workers", "worker_id": f"{name}-w1", "partitions": 4,
            "metrics_port": None, "tools": [TEST_TOOLS], "redis_url": redis_url,
            "ledger_namespace": name,
            "gc_tuning": False,  # many workers share the test process; test_gc_tuning checks it
        }
        values.update(overrides)
        settings = Settings.model_validate(values)
        return await start_pipeline(settings, started)

    yield start
    for pipeline in reversed(started):
        pipeline.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(pipeline.task, 30)
        await pipeline.client.close()


async def start_pipeline(settings: Settings, started: list[Pipeline]) -> Pipeline:
    assert settings.kafka_bootstrap_servers is not None
    await ensure_topics(settings.kafka_bootstrap_servers, TopicCatalogue(settings.topic_prefix),
                        partitions=settings.partitions)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_worker(
        settings, stop, registry=load_tools(settings.tools), grace_s=2,
        on_started=ready.set_result))
    worker = await asyncio.wait_for(ready, 60)
    client = ToolformerClient(settings.kafka_bootstrap_servers,
                              topic_prefix=settings.topic_prefix)
    await client.__aenter__()
    pipeline = Pipeline(settings, worker, client, stop, task)
    started.append(pipeline)
    return pipeline


@pytest_asyncio.fixture(loop_scope="session")
async def pipeline(pipeline_factory: PipelineFactory) -> Pipeline:
    """A worker with the built-in and test tools, default settings."""
    return await pipeline_factory()
