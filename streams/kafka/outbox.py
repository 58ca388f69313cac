"""An ordered outbox on the worker's producer: records leave in the order they were sent.

``send`` is synchronous (the session runtime calls it from pure-looking code
paths); one task appends each record to the producer's batches in order and the
returned future resolves on the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from async_toolformer.streams.kafka.publisher import KafkaPublisher

__all__ = ["KafkaOutbox"]

logger = logging.getLogger(__name__)

_Item = tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None, asyncio.Future[None]]


class KafkaOutbox:
    """A ``RecordSink`` over a started :class:`KafkaPublisher` (which it does not own)."""

    def __init__(self, publisher: KafkaPublisher) -> None:
        self._publisher = publisher
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def send(self, topic: str, key: bytes | None, value: bytes, *,
             headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((topic, key, value, headers, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="session-outbox")
        return future

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            topic, key, value, headers, future = await self._queue.get()
            try:
                delivery = await self._publisher.enqueue(topic, key, value, headers=headers)
            except Exception as exc:
                logger.exception("cannot send a record to %s", topic)
                if not future.done():
                    future.set_exception(exc)
            else:
                delivery.add_done_callback(functools.partial(_settle, future))
            finally:
                self._queue.task_done()


def _settle(future: asyncio.Future[None], delivery: asyncio.Future[Any]) -> None:
    if future.done():
        return
    if delivery.cancelled():
        future.cancel()
    elif (error := delivery.exception()) is not None:
        logger.error("the broker refused a session record: %r", error)
        future.set_exception(error)
    else:
        future.set_result(None)
