"""Start a tool's coroutine at once, and arm its deadline only if it has to wait.

Many tools answer without ever suspending (a cache hit, a computation,
``echo``). For them a timeout timer is pure cost. Code that runs without
suspending cannot be interrupted by a timeout anyway, so arming the deadline at
the first suspension, counted from the start, changes nothing about when it can
fire.

A tool that waits shares its deadline's timer with every other call whose
deadline falls in the same tick of :data:`RESOLUTION_S`
(:mod:`async_toolformer.agents.ticks`) instead of an ``asyncio.timeout`` each: a
tool is cut off up to ``RESOLUTION_S`` late, never early. Expiry cancels the
task, and where the deadline was armed the cancellation becomes
``TimeoutError``, with the same bookkeeping as ``asyncio.timeout`` (another
cancellation is passed on).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

from ..ticks import LatestTicks

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
    schedule = _deadlines.of(asyncio.get_running_loop())
    armed = _Armed(task)
    tick = schedule.arm(armed, None, deadline, RESOLUTION_S)
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
        schedule.disarm(armed, tick)
    if armed.expired:  # it fired as the awaitable ended
        task.uncancel()
    return value


class _Armed:
    __slots__ = ("cancelling", "expired", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.cancelling = task.cancelling()  # cancellations already asked for are not ours
        self.expired = False


def _expire(armed: _Armed, _: None) -> None:
    armed.expired = True
    armed.task.cancel()


_deadlines = LatestTicks[_Armed, None](_expire)


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
