"""Acknowledging a partition's records strictly in offset order.

Calls finish out of order, but Faust must only ever see a contiguous run of
acked offsets: it commits the first consecutive run it finds, and when nothing
was committed yet it does so even past an unfinished record at the head of the
partition (docs/faust.md), which would lose that record on a crash. Holding
each ack back until every earlier record of its partition is done removes the
gap Faust mishandles, so a committed offset always means "everything before it
has its result acknowledged by the broker".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Pending(Generic[T]):
    offset: int
    item: T
    done: bool = False


@dataclass(slots=True)
class _Partition(Generic[T]):
    queue: deque[_Pending[T]] = field(default_factory=deque)
    by_offset: dict[int, _Pending[T]] = field(default_factory=dict)
    held: int = 0  # records done but queued behind one that is not


class OffsetTracker(Generic[T]):
    """Per-partition queue of records in flight; ``finish`` returns what may be acked now."""

    def __init__(self) -> None:
        self._partitions: dict[Hashable, _Partition[T]] = {}
        self._held = 0

    def start(self, partition: Hashable, offset: int, item: T) -> None:
        """Record that ``offset`` of ``partition`` was received.

        An offset at or below one still pending means the partition was read again
        from its committed offset (it came back after a rebalance): what was
        pending is dropped, to be acked by the reading that is now under way.
        """
        state = self._partitions.get(partition)
        if state is None or (state.queue and offset <= state.queue[-1].offset):
            if state is not None:
                self._held -= state.held
            state = self._partitions[partition] = _Partition()
        pending = _Pending(offset, item)
        state.queue.append(pending)
        state.by_offset[offset] = pending

    def finish(self, partition: Hashable, offset: int) -> list[T]:
        """Mark ``offset`` done; return the items whose whole prefix is done, in order."""
        state = self._partitions.get(partition)
        pending = state.by_offset.get(offset) if state else None
        if state is None or pending is None or pending.done:
            return []
        pending.done = True
        if state.queue[0] is not pending:
            state.held += 1
            self._held += 1
            return []
        ready: list[T] = []
        while state.queue and state.queue[0].done:
            head = state.queue.popleft()
            del state.by_offset[head.offset]
            ready.append(head.item)
        released = len(ready) - 1  # all but ``pending`` itself were held
        state.held -= released
        self._held -= released
        return ready

    def forget(self, partition: Hashable) -> int:
        """Drop a revoked partition's records (their offsets stay uncommitted); return how many."""
        state = self._partitions.pop(partition, None)
        if state is None:
            return 0
        self._held -= state.held
        return len(state.queue)

    def held(self) -> int:
        """Records done but not yet ackable: an earlier record of their partition is not.

        A figure that stays high means one record holds its partition's commits back.
        """
        return self._held

    def pending(self, partition: Hashable | None = None) -> int:
        if partition is not None:
            state = self._partitions.get(partition)
            return len(state.queue) if state else 0
        return sum(len(s.queue) for s in self._partitions.values())
