"""Start a tool's coroutine at once, and arm its deadline only if it has to wait.

Many tools answer without ever suspending (a cache hit, a computation,
``echo``). For them a timeout timer is pure cost: a heap push and a cancel per
call, a few per cent of the worker's CPU. Code that runs without suspending
cannot be interrupted by a timeout anyway, so arming the deadline at the first
suspension, counted from the start, changes nothing about when it can fire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["Resumed", "run_until"]


async def run_until(coro: Coroutine[Any, Any, Any], deadline: float) -> Any:
    """Await ``coro`` in the current task; TimeoutError once ``loop.time()`` passes ``deadline``."""
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        return done.value
    async with asyncio.timeout_at(deadline):
        return await Resumed(coro, waiting_on)


class Resumed:
    """Awaiting it continues ``coro`` from the first thing it yielded to the task.

    The task sends None (the awaited future is done) or throws (cancellation,
    the timeout) into the generator below, which forwards either to ``coro``
    exactly as an ``await`` chain would.
    """

    __slots__ = ("_coro", "_waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self._coro = coro
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, Any]:
        coro, waiting_on = self._coro, self._waiting_on
        while True:
            try:
                yield waiting_on
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # everything reaches the tool's own frame
                try:
                    waiting_on = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = coro.send(None)
                except StopIteration as done:
                    return done.value
