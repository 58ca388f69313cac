"""Following one partition of ``session-events`` for the sessions a client waits on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import SchemaError, SessionEvent

from .codec import decode_session_event

__all__ = ["JournalFollower"]

logger = logging.getLogger(__name__)


class JournalFollower:
    """Hands every session event of one partition to ``handler``, from where it stood at start.

    The start is the end offset as the broker reports it, which may be late
    (BROKER-NOTES.md): that only makes the follower start earlier and skip
    others' events, never miss one, when it is started before the request is sent.
    With ``from_beginning`` it replays the partition first (a session's history).
    """

    def __init__(self, bootstrap_servers: str, topic: str, partition: int,
                 handler: Callable[[SessionEvent], None], *, from_beginning: bool = False) -> None:
        self._tp = TopicPartition(topic, partition)
        self._handler = handler
        self._from_beginning = from_beginning
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers,
                                          enable_auto_commit=False, fetch_max_wait_ms=5,
                                          auto_offset_reset="earliest")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign([self._tp])
        if self._from_beginning:
            await self._consumer.seek_to_beginning(self._tp)
        else:
            end = await self._consumer.end_offsets([self._tp])
            self._consumer.seek(self._tp, end[self._tp])
        self._task = asyncio.create_task(self._run(), name=f"journal-{self._tp.partition}")

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
                        event = decode_session_event(record.value or b"")
                    except SchemaError:
                        continue
                    self._handler(event)
