"""Start a tool's coroutine at once, and arm its deadline only if it has to wait.

Many tools answer without ever suspending (a cache hit, a computation,
``echo``). For them a timeout timer is pure cost. Code that runs without
suspending cannot be interrupted by a timeout anyway, so arming the deadline at
the first suspension, counted from the start, changes nothing about when it can
fire.

A tool that waits shares its deadline's timer with every other call whose
deadline falls in the same tick of :data:`RESOLUTION_S`: ``asyncio.timeout``
arms a timer per call, a heap push with Python comparisons against every other
timer of the loop (tens of thousands with calls in flight), 3.9 µs a call here.
A deadline is rounded up to its tick, never down: a tool is cut off up to
``RESOLUTION_S`` late, never early. Expiry cancels the task, and where the
deadline was armed the cancellation becomes ``TimeoutError``, with the same
bookkeeping as ``asyncio.timeout`` (another cancellation is passed on).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["RESOLUTION_S", "Resumed", "run_until", "within"]

RESOLUTION_S = 0.005
T = TypeVar("T")


async def run_until(coro: Coroutine[Any, Any, T], deadline: float) -> T:
    """Await ``coro`` in the current task; TimeoutError once ``loop.time()`` passes ``deadline``."""
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    return await within(Resumed(coro, waiting_on), deadline)


async def within(awaitable: Awaitable[T], deadline: float) -> T:
    """``asyncio.timeout_at(deadline)`` around ``awaitable``, on a shared timer."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("a deadline needs a running task")
    schedule = _Deadlines.of(asyncio.get_running_loop())
    armed = schedule.arm(task, deadline)
    try:
        value = await awaitable
    except BaseException as exc:
        # Once it fired, its cancellation is counted off whatever ended the wait; only
        # a CancelledError that no one else asked for becomes the timeout.
        if (armed.expired and task.uncancel() <= armed.cancelling
                and isinstance(exc, asyncio.CancelledError)):
            raise TimeoutError from exc
        raise
    finally:
        schedule.disarm(armed)
    if armed.expired:  # it fired as the awaitable ended
        task.uncancel()
    return value


class _Armed:
    __slots__ = ("cancelling", "expired", "task", "tick")

    def __init__(self, task: asyncio.Task[Any], tick: int) -> None:
        self.task = task
        self.tick = tick
        self.cancelling = task.cancelling()  # cancellations already asked for are not ours
        self.expired = False


class _Deadlines:
    """One timer per tick for every deadline of a loop that falls in it."""

    _latest: _Deadlines | None = None  # a worker runs one loop: keep its schedule at hand

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ticks: dict[int, set[_Armed]] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        latest = cls._latest
        if latest is None or latest.loop is not loop:
            latest = cls._latest = cls(loop)
        return latest

    def arm(self, task: asyncio.Task[Any], deadline: float) -> _Armed:
        armed = _Armed(task, math.ceil(deadline / RESOLUTION_S))
        due = self._ticks.get(armed.tick)
        if due is None:
            due = self._ticks[armed.tick] = set()
            self.loop.call_at(armed.tick * RESOLUTION_S, self._fire, armed.tick)
        due.add(armed)
        return armed

    def disarm(self, armed: _Armed) -> None:
        due = self._ticks.get(armed.tick)
        if due is not None:
            due.discard(armed)

    def _fire(self, tick: int) -> None:
        for armed in self._ticks.pop(tick, ()):
            armed.expired = True
            armed.task.cancel()


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
