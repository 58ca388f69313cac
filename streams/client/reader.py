"""The client's consumers: how they are made, and reading a key's history up to an offset."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity

__all__ = ["ConsumerFactory", "decode_result", "read_history", "reading_consumer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

ConsumerFactory = Callable[[], AIOKafkaConsumer]
"""Makes one unstarted consumer without a group; the clients call it for each they need."""


def decode_result(raw: bytes) -> ToolCallCompleted:
    return decode_as(ToolCallCompleted, raw)


def reading_consumer(bootstrap_servers: str, *,
                     security: KafkaSecurity = PLAINTEXT) -> AIOKafkaConsumer:
    """A consumer for assigned partitions: no group, no commits, a 5 ms fetch wait.

    The embedded broker answers a waiting fetch at its deadline, not when data
    arrives (docs/broker.md), so the wait adds itself to every event's latency.
    """
    return AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                            fetch_max_wait_ms=5, auto_offset_reset="earliest",
                            **security.client_options())


async def read_history(consumer: AIOKafkaConsumer, tp: TopicPartition, key: bytes,
                       end: int, decode: Callable[[bytes], T]) -> list[T]:
    """The decoded records of ``key`` on ``tp`` before offset ``end``, oldest first.

    Reads from the partition's first offset until its position reaches ``end``,
    an offset already read by the caller's follower, so it exists: no end
    offset reported by the broker is relied on (it lags, docs/broker.md).
    ``consumer`` is started and stopped here.
    """
    found: list[T] = []
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
            for record in batches.get(tp, ()):
                if record.offset >= end:
                    return found
                if record.key != key:
                    continue
                try:
                    found.append(decode(record.value or b""))
                except SchemaError as exc:
                    logger.debug("skipping %s@%d: %s", tp, record.offset, exc)
    finally:
        await consumer.stop()
    return found
