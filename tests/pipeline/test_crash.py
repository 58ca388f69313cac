"""At least once across a crash: a worker killed with ``kill -9`` loses no call.

Calls finish out of order; Faust, left alone, commits a run of acked offsets even
past unfinished records at the head of a partition (docs/faust.md). This test
kills a worker while the heads of its partitions are still running, so it fails
if any committed offset ever passes a call without an acknowledged result.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings

from .processes import WorkerProcess

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_kill_9_mid_run_loses_no_call(kafka_bootstrap: str) -> None:
    name = f"crash{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", partitions=4)
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=4)
    first = WorkerProcess(settings, f"{name}-a")
    second = WorkerProcess(settings, f"{name}-b")
    rng = random.Random(7)
    async with ToolformerClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as client:
        await first.start()
        await client.run([ToolCallRequested(call_id="probe", session_id="probe", tool="echo")],
                         timeout_s=60)
        # Long calls first in each partition, short ones after them: the short ones
        # finish and are acked while the heads are still running when the kill comes.
        calls = [
            ToolCallRequested(call_id=f"{name}-{i}", session_id=f"s{i % 16}", tool="sleep",
                              arguments={"ms": 4000 if i < 16 else rng.randint(50, 400)})
            for i in range(160)
        ]
        outcome = asyncio.create_task(client.run(calls, timeout_s=90))
        try:
            await asyncio.sleep(2.0)
            first.kill()
            await second.start()
            results = await outcome  # the client gives up before the test timeout
        finally:
            first.kill()
            await second.stop()

    assert len(results) == len(calls)
    assert all(r.status is CallStatus.OK for r in results)
    finished_by = {r.worker_id for r in results}
    assert f"{name}-b" in finished_by  # the killed worker's heads were redone by the other
