"""Server-sent events to every open page: each update encoded once, queued per page, bounded.

A page that falls ``max_queued`` updates behind is cut off rather than let the
queue grow: its ``EventSource`` reconnects by itself and starts again from a
fresh snapshot, which is all it would have needed anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

__all__ = ["EventHub", "Subscription", "sse_message"]

KEEPALIVE = b": keepalive\n\n"


def sse_message(event: str, data: Any) -> bytes:
    """One SSE message; orjson writes no raw newline, so the data is one ``data:`` line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Subscription:
    """One page's queue of encoded messages; ``None`` in it means: cut off."""

    def __init__(self, max_queued: int) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(max_queued + 1)
        self.max_queued = max_queued
        self.closed = False

    def offer(self, message: bytes) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.max_queued:
            self.close()
            return
        self.queue.put_nowait(message)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)

    async def next(self, timeout_s: float) -> bytes | None:
        """The next message, KEEPALIVE after ``timeout_s`` of quiet, None once cut off."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return KEEPALIVE


class EventHub:
    """Fans updates out to the subscriptions open now."""

    def __init__(self, max_queued: int = 2_000) -> None:
        self.max_queued = max_queued
        self._subscriptions: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.max_queued)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, event: str, data: Any) -> None:
        if not self._subscriptions:
            return
        message = sse_message(event, data)
        for subscription in list(self._subscriptions):
            subscription.offer(message)
            if subscription.closed:
                self._subscriptions.discard(subscription)

    def close_all(self) -> None:
        """End every open stream (the server is stopping)."""
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
