"""A tapped topic's hand-over, in a task of its own: a tap that waits holds up its topic only.

The worker's tap of ``calls`` waits while the executor is at its cap on calls in
flight: that wait is the worker's backpressure. Awaited in the fetch loop, it
stopped every topic of the worker, so cancellations, session requests and
results were not read until a call ended, and a cap full of long calls could not
even be cancelled. A :class:`TapLane` takes a fetch's records of its topic and
hands them to the tap, in order, in its own task. While the tap waits, the fetch
loop pauses that topic's partitions (:meth:`TapLane.regulate`: they leave the
fetch's active set, so no more of their records are fetched) and the lane
resumes them once it has handed everything over; the other topics keep flowing.

A flow suspension (a rebalance) or the consumer's stop cuts the hand-over short,
as it cut Faust's own delivery short: the records the lane still held were never
handed to the tap, so nothing acked them, and the seek to the committed offsets
that ends every rebalance reads them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

__all__ = ["LaneHost", "RecordTap", "TapLane"]

logger = logging.getLogger(__name__)

RecordTap = Callable[[list[Any]], Awaitable[None]]


class _Event(Protocol):
    async def wait(self) -> Any: ...


class LaneHost(Protocol):
    """What a lane uses of Faust's consumer (all of it Faust's public or documented API)."""

    @property
    def flow_active(self) -> bool: ...
    @property
    def suspend_flow(self) -> _Event: ...
    def assignment(self) -> Iterable[Any]: ...
    def pause_partitions(self, tps: Iterable[Any]) -> None: ...
    def resume_partitions(self, tps: Iterable[Any]) -> None: ...
    async def crash(self, reason: BaseException) -> None: ...


class TapLane:
    """The records of one tapped topic on their way to its tap."""

    def __init__(self, host: LaneHost, topic: str, tap: RecordTap) -> None:
        self.topic = topic
        self._host = host
        self._tap = tap
        self._chunks: deque[list[Any]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._in_tap = False  # seen from another task: the tap is waiting
        self._paused: set[Any] = set()

    @property
    def waiting(self) -> bool:
        """Whether the tap is waiting (the executor at its cap, say)."""
        return self._in_tap

    @property
    def paused(self) -> frozenset[Any]:
        """The topic's partitions this lane paused."""
        return frozenset(self._paused)

    @property
    def held(self) -> int:
        """Records queued for the tap and not yet handed to it."""
        return sum(map(len, self._chunks))

    def push(self, records: list[Any]) -> None:
        """Queue ``records`` (each partition's in offset order) for the tap; never waits."""
        self._chunks.append(records)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def regulate(self) -> None:
        """Pause the topic's partitions while the tap waits; the fetch loop calls this
        before each fetch. During a rebalance Faust pauses and resumes every partition
        itself, so a pause of ours is forgotten then."""
        host = self._host
        if not host.flow_active:
            self._paused.clear()
            return
        if self._in_tap:
            mine = {tp for tp in host.assignment() if tp.topic == self.topic} - self._paused
            if mine:
                host.pause_partitions(mine)
                self._paused |= mine

    def cancel(self) -> None:
        """Cut the hand-over short (the consumer stops)."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        host = self._host
        try:
            while self._chunks and host.flow_active:
                if not await self._unless_suspended(self._hand_over()):
                    break
        except Exception as exc:  # a tap must not raise: a bug, so the consumer stops
            logger.exception("the tap of %s failed; the consumer stops", self.topic)
            await host.crash(exc)
        finally:
            self._task = None
            self._in_tap = False
            self._chunks.clear()  # empty, unless cut short: read again after the seek
            self._resume()

    async def _hand_over(self) -> None:
        chunks = self._chunks
        while chunks:
            records = chunks.popleft()
            self._in_tap = True
            try:
                await self._tap(records)
            finally:
                self._in_tap = False

    async def _unless_suspended(self, work: Awaitable[None]) -> bool:
        """Run ``work``; True if it ended, False if the flow was suspended first (it is
        then cancelled, as Faust's loop cancels a delivery)."""
        done = asyncio.ensure_future(work)
        suspended = asyncio.ensure_future(self._host.suspend_flow.wait())
        try:
            await asyncio.wait((done, suspended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            suspended.cancel()
            if not done.done():
                done.cancel()
        if done.cancelled():
            return False
        done.result()  # the tap's exception, if any
        return True

    def _resume(self) -> None:
        host = self._host
        if self._paused and host.flow_active:
            still = self._paused & set(host.assignment())
            if still:
                host.resume_partitions(still)
        self._paused.clear()
