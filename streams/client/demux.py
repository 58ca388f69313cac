"""Handing the records of one partition to the waiters of each key, decoding only those.

Records on ``results`` and ``session-events`` are keyed by ``session_id``. A
partition carries the records of many sessions; a client process waits for a
few of them. The follower asks :meth:`Demux.wants` with the raw key and offset
before decoding, so records nobody waits for cost a dictionary lookup.

Each waiter has a start offset (``next_offset``): it is given the records of its
key at that offset and after, each offset at most once, in offset order. While
a waiter's history is read elsewhere it is *held*: live records are kept and
handed over after the history (:meth:`Waiter.release`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["Demux", "Waiter"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

NOT_STARTED = sys.maxsize
"""The start offset of a waiter not yet placed: it is given nothing."""


class Waiter(Generic[T]):
    """One consumer of a key's records from ``next_offset`` on."""

    __slots__ = ("_held", "handler", "key", "next_offset")

    def __init__(self, key: bytes, handler: Callable[[T], None]) -> None:
        self.key = key
        self.handler = handler
        self.next_offset = NOT_STARTED
        self._held: list[T] | None = None

    def takes(self, offset: int) -> bool:
        return offset >= self.next_offset

    def give(self, offset: int, value: T) -> None:
        """Hand over the record at ``offset`` (the caller checked :meth:`takes`)."""
        self.next_offset = offset + 1
        if self._held is not None:
            self._held.append(value)
        else:
            self.handler(value)

    def hold(self) -> None:
        """Keep live records back until :meth:`release` (its history is being read)."""
        self._held = []

    def release(self, history: Iterable[T]) -> None:
        """Hand over ``history``, then the records held meanwhile; live records flow again."""
        held, self._held = self._held or [], None
        for value in (*history, *held):
            self.handler(value)


class Demux(Generic[T]):
    """The waiters of one partition, by key."""

    def __init__(self) -> None:
        self._by_key: dict[bytes, list[Waiter[T]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, waiter: Waiter[T]) -> None:
        self._by_key.setdefault(waiter.key, []).append(waiter)
        self._count += 1

    def remove(self, waiter: Waiter[T]) -> None:
        waiters = self._by_key.get(waiter.key)
        if waiters is None or waiter not in waiters:
            return
        waiters.remove(waiter)
        self._count -= 1
        if not waiters:
            del self._by_key[waiter.key]

    def wants(self, key: bytes | None, offset: int) -> bool:
        """Whether any waiter takes the record at ``offset`` with ``key`` (decode it only then)."""
        if key is None:
            return False
        waiters = self._by_key.get(key)
        return waiters is not None and any(w.takes(offset) for w in waiters)

    def route(self, key: bytes, offset: int, value: T) -> None:
        """Give the decoded record to each waiter on ``key`` that takes ``offset``.

        A handler that raises is logged; the other waiters still get the record.
        """
        for waiter in tuple(self._by_key.get(key, ())):
            if waiter.takes(offset):
                try:
                    waiter.give(offset, value)
                except Exception:
                    logger.exception("a waiter for key %r failed on offset %d", key, offset)
