"""Reading one partition of a topic and handing each decoded record to whoever waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as

logger = logging.getLogger(__name__)

T = TypeVar("T")


def decode_result(raw: bytes) -> ToolCallCompleted:
    return decode_as(ToolCallCompleted, raw)


class PartitionReader(Generic[T]):
    """Follows one partition from where it stood when the reader started.

    The start is the partition's end offset as the broker reports it. Brokers may
    report it late (docs/broker.md: the embedded one lags after a batch), which
    only makes the reader start earlier and skip records nobody waits for, never
    miss one, as long as it is started before the requests are published. With
    ``from_beginning`` it reads the whole partition first (a session's history).
    Records that do not decode are logged and skipped.
    """

    def __init__(self, bootstrap_servers: str, topic: str, partition: int,
                 handler: Callable[[T], None], *, decode: Callable[[bytes], T],
                 from_beginning: bool = False) -> None:
        self._tp = TopicPartition(topic, partition)
        self._handler = handler
        self._decode = decode
        self._from_beginning = from_beginning
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
            fetch_max_wait_ms=5, auto_offset_reset="earliest",
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign([self._tp])
        if self._from_beginning:
            await self._consumer.seek_to_beginning(self._tp)
        else:
            end = await self._consumer.end_offsets([self._tp])
            self._consumer.seek(self._tp, end[self._tp])
        self._task = asyncio.create_task(self._run(), name=f"reader-{self._tp}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    try:
                        decoded = self._decode(record.value or b"")
                    except SchemaError as exc:
                        logger.debug("skipping %s@%d: %s", self._tp, record.offset, exc)
                        continue
                    self._handler(decoded)
