"""A second worker joining the group takes half of the partitions, of calls and of
cancellations alike (co-partitioning), and calls keep being answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from async_toolformer.schemas import CallStatus, ToolCallRequested

from .conftest import PipelineFactory
from .processes import WorkerProcess

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_second_worker_takes_half_of_the_partitions(
        pipeline_factory: PipelineFactory) -> None:
    pipe = await pipeline_factory(partitions=4)
    consumer = pipe.worker.app.consumer
    topics = pipe.topics

    def owned(topic: str) -> set[int]:
        return {tp.partition for tp in consumer.assignment() if tp.topic == topic}

    await _until(lambda: len(owned(topics.calls)) == 4, timeout_s=30)
    second = WorkerProcess(pipe.settings, "second")
    await second.start()
    try:
        await _until(lambda: len(owned(topics.calls)) == 2, timeout_s=60)
        assert owned(topics.cancellations) == owned(topics.calls)

        calls = [ToolCallRequested(call_id=f"scale-{i}", session_id=f"s{i}", tool="echo")
                 for i in range(40)]
        results = await pipe.client.run(calls, timeout_s=60)
        assert all(r.status is CallStatus.OK for r in results)
        assert {r.worker_id for r in results} == {pipe.settings.worker_id, "second"}
    finally:
        await second.stop()


async def _until(condition: Callable[[], bool], *, timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.2)
