"""One follower per partition per client, shared by every session and call batch on it.

A client process may wait on hundreds of sessions at once. A consumer per
session would fetch every few milliseconds and decode every record of its
partition, other sessions' too: the cost grows with sessions times events. A
:class:`PartitionFollower` is one consumer for one partition; it hands each
record to the waiters of its key (``session_id``) through a
:class:`~async_toolformer.streams.client.demux.Demux`, decoding only the
records someone waits for. It starts with its first waiter and stops once it
has had none for ``idle_s`` seconds.

Where a waiter starts (the rule the clients rely on):

- A live waiter starts at the follower's position when :meth:`subscribe`
  returns: the offset after the last record the follower has read, or, just
  after it started, the end offset the broker reported. That position never
  exceeds the partition's end, so every record published after ``subscribe``
  returns is delivered: the clients publish their requests only then. Once the
  follower runs, subscribing is a dictionary insert: no consumer start, no
  round trip to the broker, no seek. A low end offset (the embedded broker's
  lags after a batch write, docs/broker.md) only starts the follower earlier.
- A waiter ``from_beginning`` (a session's history) is placed the same way and
  held; a consumer of its own reads the key's records before that position
  (:func:`~async_toolformer.streams.client.reader.read_history`), they are
  handed over first, then the live records held meanwhile. Live waiters never
  wait for a history read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.agents.tracing import TRACING, consumed
from async_toolformer.schemas import SchemaError
from async_toolformer.streams.client.demux import Demux, Waiter
from async_toolformer.streams.client.reader import ConsumerFactory, read_history

__all__ = ["PartitionFollower", "TopicFollowers"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PartitionFollower(Generic[T]):
    """One consumer following one partition for every waiter of this client on it."""

    def __init__(self, tp: TopicPartition, decode: Callable[[bytes], T],
                 consumers: ConsumerFactory, *, idle_s: float = 10.0) -> None:
        self.tp = tp
        self._decode = decode
        self._consumers = consumers
        self._idle_s = idle_s
        self._demux: Demux[T] = Demux()
        self._histories: dict[Waiter[T], asyncio.Task[None]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._position = 0
        self._lock = asyncio.Lock()
        self._placing = 0  # subscribe calls between their start and their waiter's placing
        self._idle: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def waiters(self) -> int:
        return len(self._demux)

    async def subscribe(self, key: bytes, handler: Callable[[T], None], *,
                        from_beginning: bool = False) -> Waiter[T]:
        """Give ``handler`` the records of ``key`` published from now on (see the module doc)."""
        waiter: Waiter[T] = Waiter(key, handler)
        self._placing += 1
        self._cancel_idle()
        try:
            if self._task is None:
                await self._start()
        finally:
            self._placing -= 1
        if from_beginning and self._position > 0:
            waiter.hold()
            self._histories[waiter] = asyncio.create_task(
                self._history(waiter, self._position), name=f"history-{self.tp}")
        waiter.next_offset = self._position  # no await between this and add()
        self._demux.add(waiter)
        return waiter

    def unsubscribe(self, waiter: Waiter[T]) -> None:
        """Stop giving ``waiter`` records; the follower stops once idle for ``idle_s``."""
        self._demux.remove(waiter)
        history = self._histories.pop(waiter, None)
        if history is not None:
            history.cancel()
        if not self._demux and not self._placing and self._task is not None:
            self._cancel_idle()
            self._idle = asyncio.get_running_loop().call_later(self._idle_s, self._stop_if_idle)

    async def stop(self) -> None:
        self._cancel_idle()
        for history in self._histories.values():
            history.cancel()
        self._histories.clear()
        async with self._lock:
            await self._shut()

    async def _start(self) -> None:
        async with self._lock:
            if self._task is not None:
                return
            consumer = self._consumers()
            await consumer.start()
            try:
                consumer.assign([self.tp])
                end = await consumer.end_offsets([self.tp])
                self._position = end[self.tp]
                consumer.seek(self.tp, self._position)
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
            self._task = asyncio.create_task(self._follow(consumer), name=f"follow-{self.tp}")

    async def _shut(self) -> None:
        task, consumer, self._task, self._consumer = self._task, self._consumer, None, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if consumer is not None:
            await consumer.stop()

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _stop_if_idle(self) -> None:
        self._idle = None
        if not self._demux and not self._placing:
            self._stopping = asyncio.get_running_loop().create_task(
                self._stop_when_still_idle(), name=f"idle-stop-{self.tp}")

    async def _stop_when_still_idle(self) -> None:
        async with self._lock:
            if not self._demux and not self._placing:
                await self._shut()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        tp, demux, decode = self.tp, self._demux, self._decode
        delay = 0.1
        while True:
            try:
                batches = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
            except Exception as exc:  # the loop must outlive a broker hiccup
                logger.warning("following %s failed (%r); retrying in %.1fs", tp, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            for record in batches.get(tp, ()):
                self._position = record.offset + 1
                key = record.key
                if key is None or not demux.wants(key, record.offset):
                    continue
                try:
                    value = decode(record.value or b"")
                except SchemaError as exc:
                    logger.debug("skipping %s@%d: %s", tp, record.offset, exc)
                    continue
                if TRACING.on:
                    consumed(record, value)
                demux.route(key, record.offset, value)

    async def _history(self, waiter: Waiter[T], end: int) -> None:
        history: list[T] = []
        try:
            history = await read_history(self._consumers(), self.tp, waiter.key, end,
                                         self._decode)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("reading the history of %r on %s failed; only new records "
                             "follow", waiter.key, self.tp)
        self._histories.pop(waiter, None)
        waiter.release(history)


class TopicFollowers(Generic[T]):
    """The followers of one topic's partitions for one client, made on first use."""

    def __init__(self, topic: str, decode: Callable[[bytes], T], consumers: ConsumerFactory,
                 *, idle_s: float = 10.0) -> None:
        self.topic = topic
        self._decode = decode
        self._consumers = consumers
        self._idle_s = idle_s
        self._followers: dict[int, PartitionFollower[T]] = {}

    def follower(self, partition: int) -> PartitionFollower[T]:
        follower = self._followers.get(partition)
        if follower is None:
            follower = self._followers[partition] = PartitionFollower(
                TopicPartition(self.topic, partition), self._decode, self._consumers,
                idle_s=self._idle_s)
        return follower

    async def close(self) -> None:
        followers = list(self._followers.values())
        self._followers.clear()
        for follower in followers:
            await follower.stop()
