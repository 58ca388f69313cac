"""Cancellations that outlive the worker: kept by partition, read back on first sight.

The :class:`CancellationBook` is one worker's memory. When a partition moves
(a rebalance, a restart), its next owner starts reading ``cancellations`` at
the committed offset, so cancellations the last owner consumed are never seen
again, and a queued or redelivered call of a cancelled branch would run.

Why a store by partition, read on first sight, and not the alternatives:

- Reading the ``cancellations`` partition back for the TTL window on
  assignment would need a time index the brokers we run on do not answer
  reliably, and an end offset that lags on the embedded broker
  (docs/broker.md), and it would read up to an hour of records per partition
  on every rebalance.
- Asking Redis as each call starts would add a round trip to every call.

So each cancellation is saved under the partition it was read from (calls and
cancellations are keyed by session and have the same partitions), before its
record is acked: one round trip per cancellation. A partition's cancellations
are loaded into the book once, before the first calls of that partition are
admitted after it was assigned: one round trip per partition per assignment.
Calls of partitions already loaded pay a set lookup per fetch.

A store that does not answer: a save is tried once (the book in memory still
has the cancellation; only a later move of its partition forgets it); a load is
retried for ``patience_s`` (calls of the partition wait, as they would for
their ledger claims), then given up with an error logged, and the partition's
calls run on what the book holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from async_toolformer.schemas import Cancellation
from async_toolformer.schemas.exceptions import ToolformerError

from .cancellations import CancellationBook

__all__ = ["CancellationRecall", "CancellationStore", "CancellationStoreUnavailableError"]

logger = logging.getLogger(__name__)

_MAX_BACKOFF_S = 2.0


class CancellationStoreUnavailableError(ToolformerError):
    """The store did not answer (worth trying again), as opposed to answering with an error.

    Internal to the recall, which retries it itself; not ``retriable`` in the tree's sense
    because no caller outside the recall ever sees it.
    """


class CancellationStore(Protocol):
    """Where cancellations are kept, by partition, for a while."""

    async def save(self, partition: int, cancellation: Cancellation, ttl_s: float) -> None: ...

    async def load(self, partition: int) -> Sequence[tuple[Cancellation, float]]:
        """The partition's cancellations still alive, each with its seconds left."""
        ...


class CancellationRecall:
    """Keeps ``book``'s cancellations in ``store`` and loads a partition's on first sight."""

    def __init__(self, book: CancellationBook, store: CancellationStore, *,
                 patience_s: float = 30.0) -> None:
        self._book = book
        self._store = store
        self._patience_s = patience_s
        self._loaded: set[int] = set()
        self._loading: dict[int, asyncio.Task[None]] = {}
        self._stale: set[int] = set()  # revoked while loading: load again when next seen

    async def keep(self, partition: int, cancellation: Cancellation) -> None:
        """Save ``cancellation`` (already in the book); a failure is logged, never raised."""
        try:
            await self._store.save(partition, cancellation, self._book.ttl_s)
        except Exception as exc:
            logger.warning("could not keep a cancellation of partition %d (%s: %s); it is "
                           "remembered by this worker only", partition, type(exc).__name__, exc)

    async def ready(self, partitions: set[int]) -> None:
        """Return once the cancellations of ``partitions`` are in the book."""
        missing = partitions - self._loaded
        if not missing:
            return
        tasks = []
        for partition in missing:
            task = self._loading.get(partition)
            if task is None:
                task = self._loading[partition] = asyncio.create_task(self._load(partition))
            tasks.append(task)
        await asyncio.gather(*(asyncio.shield(t) for t in tasks))

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions revoked: load them again if they come back (others kept them meanwhile)."""
        for partition in partitions:
            self._loaded.discard(partition)
            if partition in self._loading:
                self._stale.add(partition)

    async def _load(self, partition: int) -> None:
        try:
            kept = await self._fetch(partition)
            for cancellation, ttl_s in kept:
                self._book.record(cancellation, ttl_s=ttl_s)
            if kept:
                logger.info("restored %d cancellations of partition %d", len(kept), partition)
            if partition in self._stale:
                self._stale.discard(partition)
            else:
                self._loaded.add(partition)
        finally:
            self._loading.pop(partition, None)

    async def _fetch(self, partition: int) -> Sequence[tuple[Cancellation, float]]:
        """The store's answer, retried while it does not answer; () once given up."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._patience_s
        delay = 0.05
        while True:
            try:
                return await self._store.load(partition)
            except CancellationStoreUnavailableError as exc:
                if loop.time() + delay > give_up_at:
                    logger.error(  # noqa: TRY400 - the store's message says it all
                        "cancellations of partition %d could not be loaded for %.0f s (%s); "
                        "its calls go on without them", partition, self._patience_s, exc)
                    return ()
                logger.warning("loading cancellations of partition %d: %s; retrying in %.2fs",
                               partition, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
            except Exception:
                logger.exception("loading cancellations of partition %d failed; its calls go "
                                 "on without them", partition)
                return ()
