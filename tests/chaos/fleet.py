"""Worker processes under one group, restartable as new incarnations, and a results tap."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from async_toolformer.schemas import ToolCallCompleted, decode_as
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings
from tests.pipeline.processes import WorkerProcess


@dataclass
class Fleet:
    """Slots of workers; each (re)start is a new incarnation with its own worker_id."""

    settings: Settings
    name: str
    extra_env: dict[str, str]
    running: dict[int, WorkerProcess] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    async def start(self, slot: int) -> str:
        prefix = f"{self.name}-w{slot}-"
        incarnation = f"{prefix}{sum(s.startswith(prefix) for s in self.started)}"
        worker = WorkerProcess(self.settings, incarnation, dict(self.extra_env))
        await worker.start()
        self.running[slot] = worker
        self.started.append(incarnation)
        return incarnation

    def kill(self, slot: int) -> str:
        worker = self.running.pop(slot)
        worker.kill()
        self.killed.append(worker.name)
        return worker.name

    async def terminate(self, slot: int) -> str:
        """SIGTERM: the worker stops taking calls, waits its grace period, then leaves."""
        worker = self.running.pop(slot)
        self.stopped.append(worker.name)
        await worker.stop()
        return worker.name

    async def stop_all(self) -> None:
        for worker in self.running.values():
            worker.kill()
            if worker.process is not None:
                await worker.process.wait()
        self.running.clear()


@dataclass
class ResultTap:
    """Every record of ``results``, duplicates kept, from the start of the topic."""

    bootstrap: str
    topic: str
    by_call: dict[str, list[ToolCallCompleted]] = field(
        default_factory=lambda: defaultdict(list))
    records: int = 0
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> ResultTap:
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    fetch_max_wait_ms=20)
        await consumer.start()
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, call_ids: set[str], timeout_s: float) -> set[str]:
        """Wait until each call has a result; return those still missing at the timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while call_ids - self.by_call.keys():
                    self._arrived.clear()
                    await self._arrived.wait()
        return call_ids - self.by_call.keys()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for records in batches.values():
                    for record in records:
                        result = decode_as(ToolCallCompleted, record.value or b"")
                        self.by_call[result.call_id].append(result)
                        self.records += 1
                if batches:
                    self._arrived.set()
        finally:
            await consumer.stop()


async def open_fleet(kafka_bootstrap: str, redis_url: str, name: str,
                     extra_env: dict[str, str] | None = None) -> tuple[Fleet, TopicCatalogue]:
    """A fleet of chaos-tool workers (none started yet) on fresh six-partition topics."""
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        topic_prefix=f"{name}.", group_id=f"{name}-workers", partitions=6)
    topics = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=6)
    env = {"TOOLFORMER_TOOLS": '["tests.chaos.chaos_tools"]',
           "TOOLFORMER_LEDGER_NAMESPACE": name, **(extra_env or {})}
    return Fleet(settings, name, env), topics
