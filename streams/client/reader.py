"""Reading one partition of ``results`` and handing each result to whoever waits for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import SchemaError, ToolCallCompleted, decode_as

logger = logging.getLogger(__name__)

ResultHandler = Callable[[ToolCallCompleted], None]


class PartitionReader:
    """Follows one results partition from where it stood when the reader started.

    The start is the partition's end offset as the broker reports it. Brokers may
    report it late (BROKER-NOTES.md: the embedded one lags after a batch), which
    only makes the reader start earlier and skip results nobody waits for, never
    miss one, as long as it is started before the calls are published.
    """

    def __init__(self, bootstrap_servers: str, topic: str, partition: int,
                 handler: ResultHandler, *, from_beginning: bool = False) -> None:
        self._tp = TopicPartition(topic, partition)
        self._handler = handler
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
        self._task = asyncio.create_task(self._run(), name=f"results-reader-{self._tp.partition}")

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
                        result = decode_as(ToolCallCompleted, record.value or b"")
                    except SchemaError as exc:
                        logger.warning("skipping a record on %s@%d that is not a result: %s",
                                       self._tp, record.offset, exc)
                        continue
                    self._handler(result)
