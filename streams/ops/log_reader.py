"""Reading a range of a topic, partition by partition, without a consumer group.

The end of a partition is the high watermark its fetch responses carry (or the
range's last offset), never the broker's end offset from ListOffsets: on the
embedded broker that lags after a batch (docs/broker.md), and a replay that
trusted it would silently drop records. A partition whose fetches stop returning
records ends once reading has been idle for ``idle_s`` (``FIRST_FETCH_S`` before
every partition's first fetch has been answered); that clock runs only while
the reader waits for the broker, never while the caller works on a batch, so a
slow caller does not cut the range short.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.ops.exceptions import UnknownTopicError
from async_toolformer.streams.ops.selection import RecordRange

FIRST_FETCH_S = 15.0
"""How long a partition's first fetch may take before reading gives up on it (a
loaded broker answers the first fetch of a new consumer late; ``idle_s`` is
meant for the wait after data, not for that)."""


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
                     idle_s: float = 1.5, batch: int = 5_000, follow: bool = False,
                     security: KafkaSecurity = PLAINTEXT
                     ) -> AsyncGenerator[list[LogRecord], None]:
    """Yield the records of ``topic`` in ``selection``, a batch at a time.

    Stops when every partition has passed the range's last offset or (unless
    ``follow``, for records still being written) reached the end it had when last
    fetched, or when no partition has returned a record for ``idle_s`` seconds of
    waiting.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50,
                                max_partition_fetch_bytes=4 * 1_048_576,
                                **security.client_options())
    await consumer.start()
    try:
        wanted = selection.partitions_of(await topic_partitions(consumer, topic))
        open_parts = {TopicPartition(topic, p) for p in wanted}
        consumer.assign(sorted(open_parts))
        for tp in open_parts:
            consumer.seek(tp, selection.start_offset)
        idle = 0.0
        while open_parts and idle < (idle_s if _answered(consumer, open_parts)
                                     else max(idle_s, FIRST_FETCH_S)):
            waited = time.monotonic()
            fetched = await consumer.getmany(*open_parts, timeout_ms=200, max_records=batch)
            idle += time.monotonic() - waited
            taken: list[LogRecord] = []
            for tp, records in fetched.items():
                if records:
                    idle = 0.0
                for record in records:
                    if selection.exhausted(record.offset):
                        open_parts.discard(tp)
                        break
                    if selection.accepts(record.offset, record.timestamp):
                        taken.append(LogRecord(tp.partition, record.offset, record.timestamp,
                                               record.key, record.value or b""))
            for tp in list(open_parts):
                position = await consumer.position(tp)
                if selection.exhausted(position) or (not follow and _at_end(consumer, tp,
                                                                            position)):
                    open_parts.discard(tp)
            if taken:
                yield taken
    finally:
        await consumer.stop()


def _answered(consumer: AIOKafkaConsumer, parts: set[TopicPartition]) -> bool:
    """Whether a fetch of every partition in ``parts`` has been answered."""
    return all(consumer.highwater(tp) is not None for tp in parts)


def _at_end(consumer: AIOKafkaConsumer, tp: TopicPartition, position: int) -> bool:
    """Whether the last fetch response of ``tp`` had nothing past ``position``."""
    highwater = consumer.highwater(tp)
    return highwater is not None and position >= highwater
