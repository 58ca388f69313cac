"""Gather concurrent requests into one round trip.

At thousands of calls per second a round trip per call would spend the worker's
time waiting on Redis; a batch costs one round trip and one Lua run. A request
goes out on the loop's next turn when no batch is in flight; otherwise it waits
for the batch in flight to come back and leaves with everything that queued up
meanwhile (as Nagle's algorithm does), so batches grow with the load by
themselves and a lone request pays nothing extra.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

Flush = Callable[[Sequence[In]], Awaitable[Sequence[Out]]]


class MicroBatcher(Generic[In, Out]):
    """Queue requests; send them as one batch on the next loop turn or when full."""

    def __init__(self, flush: Flush[In, Out], *, max_batch: int = 512) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._items: list[In] = []
        self._futures: list[asyncio.Future[Out]] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches_sent = 0
        self.items_sent = 0

    async def submit(self, item: In) -> Out:
        """The answer to ``item``, once its batch is back."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if len(self._items) >= self._max_batch:
            self._send()
        elif not self._scheduled and not self._in_flight:
            self._scheduled = True
            loop.call_soon(self._send)
        return await future

    async def drain(self) -> None:
        """Wait for every batch already sent or queued."""
        if self._items:
            self._send()
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    def _send(self) -> None:
        self._scheduled = False
        if not self._items:
            return
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        self.batches_sent += 1
        self.items_sent += len(items)
        task = asyncio.get_running_loop().create_task(self._run(items, futures))
        self._in_flight.add(task)
        task.add_done_callback(self._landed)

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._items and not self._in_flight:
            self._send()

    async def _run(self, items: list[In], futures: list[asyncio.Future[Out]]) -> None:
        try:
            answers = await self._flush(items)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # every waiter gets the batch's error
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, answer in zip(futures, answers, strict=True):
            if not future.done():
                future.set_result(answer)
