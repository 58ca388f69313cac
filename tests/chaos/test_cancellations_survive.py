"""Cancellations survive their worker: the next owner of a partition still refuses its calls.

A worker reads a cancellation, commits it and stops; calls of the cancelled
branch published afterwards (queued behind it, as far as the next owner is
concerned) must be answered ``cancelled`` by the next worker, which never read
that cancellation, and the tool must not run. Also the Redis store on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from redis.asyncio import Redis

from async_toolformer.agents.executor.kept_cancellations import (
    CancellationStoreUnavailableError,
)
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
)
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.stack.redis_server import RedisProcessFactory
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.redis.cancellation_store import RedisCancellationStore
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings
from tests.pipeline import tools_for_tests

pytestmark = [pytest.mark.connected, pytest.mark.slow, pytest.mark.timeout(180)]


async def _serve(settings: Settings) -> tuple[asyncio.Event, asyncio.Task[None], RunningWorker]:
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_worker(settings, stop, registry=load_tools(settings.tools),
                                          grace_s=2, on_started=ready.set_result))
    return stop, task, await asyncio.wait_for(ready, 60)


async def _halt(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


async def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            group, partitions=[TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await admin.close()
    return sum(max(0, meta.offset) for meta in offsets.values())


async def test_a_restarted_worker_still_refuses_calls_of_a_cancelled_branch(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory) -> None:
    redis_server = await redis_process_factory()
    name = f"cs{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_server.url,
                        topic_prefix=f"{name}.", group_id=f"{name}-workers",
                        worker_id=f"{name}-w1", partitions=2, metrics_port=None,
                        tools=["tests.pipeline.tools_for_tests"], ledger_namespace=name,
                        gc_tuning=False)
    topics = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=2)
    session, other = f"{name}-s", f"{name}-t"
    async with ToolformerClient(kafka_bootstrap, topic_prefix=topics.prefix) as client:
        stop, task, first = await _serve(settings)
        try:
            await client.cancel_branch(session, "lost", reason="lost the race")
            await client.cancel_session(other, reason="user left")
            book = first.executor.cancellations
            async with asyncio.timeout(60):
                while True:  # until read and committed
                    if (book.reason(session, "lost") is not None
                            and book.reason(other, "main") is not None
                            and await _committed(kafka_bootstrap, settings.group_id,
                                                 topics.cancellations, 2) >= 2):
                        break
                    await asyncio.sleep(0.2)
        finally:
            await _halt(stop, task)

        def call(session_id: str, branch: str) -> ToolCallRequested:
            return ToolCallRequested(
                call_id=f"{session_id}-{branch}", session_id=session_id, branch_id=branch,
                tool="charge", arguments={"account": f"{session_id}-{branch}", "cents": 1})

        calls = [call(session, "lost"), call(session, "won"), call(other, "main")]
        stop, task, second = await _serve(settings.model_copy(update={"worker_id": f"{name}-w2"}))
        try:
            assert second.executor.cancellations.reason(session, "lost") is None  # not read
            results: list[ToolCallCompleted] = await client.run(calls, timeout_s=60)
        finally:
            await _halt(stop, task)

    by_call = {r.call_id: r for r in results}
    assert by_call[f"{session}-lost"].status is CallStatus.CANCELLED
    error = by_call[f"{session}-lost"].error
    assert error is not None
    assert "lost the race" in error.message
    assert by_call[f"{other}-main"].status is CallStatus.CANCELLED
    assert by_call[f"{session}-won"].status is CallStatus.OK
    assert tools_for_tests.executions[f"{session}-lost"] == 0
    assert tools_for_tests.executions[f"{other}-main"] == 0
    assert tools_for_tests.executions[f"{session}-won"] == 1


async def test_the_redis_store_keeps_by_partition_expires_and_bounds(
        redis_process_factory: RedisProcessFactory) -> None:
    server = await redis_process_factory()
    redis = Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
    store = RedisCancellationStore(redis, namespace="ns", max_entries=3, max_reason_chars=10)
    try:
        await store.save(0, BranchCancelled(session_id="s", branch_id="b", reason="x" * 50), 60)
        await store.save(0, SessionCancelled(session_id="gone"), 0.05)
        await store.save(1, SessionCancelled(session_id="t"), 60)
        await asyncio.sleep(0.1)
        kept = await store.load(0)
        assert [(type(c).__name__, c.session_id, c.reason) for c, _ in kept] == [
            ("BranchCancelled", "s", "x" * 10)]  # expired one gone, reason cut
        assert 59 < kept[0][1] <= 60
        assert [c.session_id for c, _ in await store.load(1)] == ["t"]
        for i in range(5):
            await store.save(2, SessionCancelled(session_id=f"s{i}"), 60 + i)
        assert sorted(c.session_id for c, _ in await store.load(2)) == ["s2", "s3", "s4"]
        await redis.zadd(store.key(2), {b"not json": 9e15, b'{"type":"dead_letter"}': 9e15})
        assert len(await store.load(2)) == 3  # foreign members skipped
        assert 0 < await redis.pttl(store.key(1)) <= 60_000
        await server.stop()
        with pytest.raises(CancellationStoreUnavailableError):
            await store.load(0)
        with pytest.raises(CancellationStoreUnavailableError):
            await store.save(0, SessionCancelled(session_id="s"), 60)
    finally:
        await redis.aclose()
