"""KafkaPublisher.publish_many: batches per partition, on the partition each key maps to."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from tests.conftest import TopicFactory

pytestmark = pytest.mark.connected


async def test_publish_many_puts_each_record_where_its_key_maps(
        kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = await topic_factory(4)
    # 600 records of 2 kB: more than one batch for some partitions (1 MB each), and
    # one record larger than a whole batch, which has one of its own.
    records = [(f"session-{i % 13}".encode(), f"{i:06d}".encode() * 340) for i in range(600)]
    records.append((b"session-big", b"x" * 1_200_000))
    async with KafkaPublisher(kafka_bootstrap) as publisher:
        await publisher.publish_many(topic, records)

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                                auto_offset_reset="earliest", fetch_max_bytes=8_000_000,
                                max_partition_fetch_bytes=4_000_000)
    await consumer.start()
    seen: list[tuple[bytes, bytes, int]] = []
    try:
        while len(seen) < len(records):
            for tp, batch in (await consumer.getmany(timeout_ms=2_000)).items():
                seen.extend((r.key or b"", r.value or b"", tp.partition) for r in batch)
    finally:
        await consumer.stop()
    assert sorted((k, v) for k, v, _ in seen) == sorted(records)
    assert all(p == partition_for(k.decode(), 4) for k, _, p in seen)
