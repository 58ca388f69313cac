"""Reading a range of a topic, partition by partition, without a consumer group.

The end of a partition is where reading goes idle (or the range's last offset),
not the broker's end offset: on the embedded broker that lags after a batch
(docs/broker.md), and a replay that trusted it would silently drop records.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.streams.ops.exceptions import UnknownTopicError
from async_toolformer.streams.ops.selection import RecordRange


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record as read, with where it came from."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """The partitions of ``topic``; listing first, so a missing topic is not auto-created."""
    if topic not in await consumer.topics():
        raise UnknownTopicError(f"topic {topic} does not exist on the broker; check "
                                "--prefix / TOOLFORMER_TOPIC_PREFIX and KAFKA_BOOTSTRAP_SERVERS")
    found: set[int] = consumer.partitions_for_topic(topic) or set()
    return found


async def read_range(bootstrap_servers: str, topic: str, selection: RecordRange, *,
                     idle_s: float = 1.5, batch: int = 5_000
                     ) -> AsyncGenerator[list[LogRecord], None]:
    """Yield the records of ``topic`` in ``selection``, a batch at a time.

    Stops when every partition has passed the range's last offset, or when no
    partition has returned a record for ``idle_s`` seconds.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50,
                                max_partition_fetch_bytes=4 * 1_048_576)
    await consumer.start()
    try:
        wanted = selection.partitions_of(await topic_partitions(consumer, topic))
        open_parts = {TopicPartition(topic, p) for p in wanted}
        consumer.assign(sorted(open_parts))
        for tp in open_parts:
            consumer.seek(tp, selection.start_offset)
        last_data = time.monotonic()
        while open_parts and time.monotonic() - last_data < idle_s:
            fetched = await consumer.getmany(*open_parts, timeout_ms=200, max_records=batch)
            taken: list[LogRecord] = []
            for tp, records in fetched.items():
                if records:
                    last_data = time.monotonic()
                for record in records:
                    if selection.exhausted(record.offset):
                        open_parts.discard(tp)
                        break
                    if selection.accepts(record.offset, record.timestamp):
                        taken.append(LogRecord(tp.partition, record.offset, record.timestamp,
                                               record.key, record.value or b""))
            for tp in list(open_parts):
                if selection.exhausted(await consumer.position(tp)):
                    open_parts.discard(tp)
            if taken:
                yield taken
    finally:
        await consumer.stop()
