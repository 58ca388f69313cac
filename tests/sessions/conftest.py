"""A scripted model server and a worker with the session agents, shared by the module's tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from async_toolformer.agents.tools import load_tools
from async_toolformer.streams.client import SessionClient, ToolformerClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer, SentChunk
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from .script import SCRIPT

TEST_TOOLS = "tests.pipeline.tools_for_tests"


@dataclass
class ChunkLog:
    """When the server wrote each streamed chunk, on the wall clock the workers use too."""

    chunks: list[tuple[SentChunk, datetime]] = field(default_factory=list)

    def __call__(self, chunk: SentChunk) -> None:
        self.chunks.append((chunk, datetime.now(UTC)))


@dataclass
class Worker:
    settings: Settings
    stop: asyncio.Event
    task: asyncio.Task[None]
    running: RunningWorker

    async def shut_down(self) -> None:
        self.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 30)


@dataclass
class Stack:
    settings: Settings
    server: FakeLLMServer
    chunks: ChunkLog
    sessions: SessionClient
    calls: ToolformerClient
    workers: list[Worker]

    @property
    def topics(self) -> TopicCatalogue:
        return TopicCatalogue(self.settings.topic_prefix)

    async def start_worker(self, name: str) -> Worker:
        settings = self.settings.model_copy(update={"worker_id": name})
        stop = asyncio.Event()
        ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_worker(settings, stop, registry=load_tools([TEST_TOOLS]),
                                              grace_s=1, on_started=ready.set_result,
                                              llm=LLMSettings()))  # as llm_env set it
        worker = Worker(settings, stop, task, await asyncio.wait_for(ready, 60))
        self.workers.append(worker)
        return worker


@pytest.fixture(scope="module")
def llm_env(fake_llm: FakeLLMServer) -> Iterator[None]:
    """Point the workers' model settings at the scripted server, as an operator would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLFORMER_LLM_BASE_URL", fake_llm.base_url)
        patch.setenv("OPENAI_API_KEY", "test-key")
        patch.setenv("ANTHROPIC_API_KEY", "test-key")
        patch.setenv("TOOLFORMER_LLM_MAX_RETRIES", "3")
        yield


@pytest.fixture(scope="module")
def chunk_log() -> ChunkLog:
    return ChunkLog()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake_llm(chunk_log: ChunkLog) -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(SCRIPT, on_chunk=chunk_log) as server:
        yield server


async def _stack(kafka_bootstrap: str, server: FakeLLMServer, chunks: ChunkLog,
                 workers: int) -> Stack:
    name = f"s{uuid.uuid4().hex[:10]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", worker_id=f"{name}-w1", partitions=4,
                        metrics_port=None, tools=[TEST_TOOLS], gc_tuning=False)
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=4)
    sessions = SessionClient(kafka_bootstrap, topic_prefix=settings.topic_prefix)
    calls = ToolformerClient(kafka_bootstrap, topic_prefix=settings.topic_prefix)
    await sessions.__aenter__()
    await calls.__aenter__()
    stack = Stack(settings, server, chunks, sessions, calls, [])
    for number in range(workers):
        await stack.start_worker(f"{name}-w{number + 1}")
    return stack


async def _close(stack: Stack) -> None:
    for worker in stack.workers:
        await worker.shut_down()
    await stack.sessions.__aexit__(None, None, None)
    await stack.calls.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(kafka_bootstrap: str, fake_llm: FakeLLMServer, chunk_log: ChunkLog,
                llm_env: None) -> AsyncIterator[Stack]:
    """One worker on fresh topics, shared by the module."""
    started = await _stack(kafka_bootstrap, fake_llm, chunk_log, workers=1)
    try:
        yield started
    finally:
        await _close(started)


@pytest_asyncio.fixture(loop_scope="session")
async def bare_stack(kafka_bootstrap: str, fake_llm: FakeLLMServer, chunk_log: ChunkLog,
                     llm_env: None) -> AsyncIterator[Stack]:
    """Fresh topics and clients, no worker yet: the test starts and stops its own."""
    started = await _stack(kafka_bootstrap, fake_llm, chunk_log, workers=0)
    try:
        yield started
    finally:
        await _close(started)
