"""Every record the worker reads is committed in the end: calls once answered, results at once.

The worker acks its ``calls`` records as their results land, and the ``results``
records that no session here waits for as soon as they are read; Faust commits
a partition only up to its first record not acked, so one record missed would
hold its partition's commits back for good.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import ToolCallRequested

from .conftest import PipelineFactory

pytestmark = pytest.mark.connected


async def test_calls_and_results_are_committed_to_their_last_record(
        pipeline_factory: PipelineFactory, kafka_bootstrap: str) -> None:
    pipe = await pipeline_factory()
    calls = [ToolCallRequested(call_id=f"k{i}", session_id=f"commits-{i % 7}", tool="echo")
             for i in range(60)]
    results = await pipe.client.run(calls, timeout_s=30)
    assert len(results) == 60
    topics = pipe.topics
    partitions = [TopicPartition(topic, p) for topic in (topics.calls, topics.results)
                  for p in range(pipe.settings.partitions)]
    # A consumer of the group that never subscribes reads its commits without joining it.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=pipe.settings.group_id,
                              enable_auto_commit=False)
    await reader.start()
    try:
        async with asyncio.timeout(20):
            while True:
                offsets = {tp: await reader.committed(tp) or 0 for tp in partitions}
                totals = {topic: sum(n for tp, n in offsets.items() if tp.topic == topic)
                          for topic in (topics.calls, topics.results)}
                if totals == {topics.calls: 60, topics.results: 60}:
                    break
                await asyncio.sleep(0.2)
    finally:
        await reader.stop()
