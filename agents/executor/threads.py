"""The threads sync tools run on, and the threads their calls left behind.

A thread cannot be killed. A sync tool that passes its timeout (or whose call
is cancelled) ends its call, but goes on running in its thread until it
returns, if ever: a zombie thread. With a fixed pool, enough of them would hold
every thread, and every later sync call would wait behind them until it timed
out too. :class:`ToolThreads` counts zombies (:attr:`ToolThreads.zombies`, a
gauge of the worker) and replaces each: calls still alive may use ``workers``
threads at once, zombies come on top, up to ``max_threads`` threads in all.
When zombies alone hold ``max_threads``, a new sync call fails at once with a
retryable error that says so, instead of waiting for a thread that may never
come back.

How a zombie is seen: ``loop.run_in_executor`` cancels the executor's future
when the awaiting call is cancelled or times out; a future that is already
running cannot be cancelled, and that refusal is the moment its thread becomes
a zombie.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar, cast

from ..exceptions import ToolFailure

__all__ = ["ToolThreads"]

P = ParamSpec("P")
T = TypeVar("T")


class _ToolFuture(Future[Any]):
    """A call's future that tells its pool when the call gives up on it while it runs."""

    def __init__(self, pool: ToolThreads, work: Callable[[], Any]) -> None:
        super().__init__()
        self.pool = pool
        self.work = work
        self.zombie = False  # written under the pool's lock

    def cancel(self) -> bool:
        if super().cancel():
            return True  # not started: it never will
        self.pool._abandon(self)
        return False


class ToolThreads(Executor):
    """A thread pool for sync tools that replaces threads held by calls that ended."""

    def __init__(self, workers: int = 32, *, max_threads: int | None = None,
                 name: str = "tool") -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self.max_threads = max(max_threads if max_threads is not None else 2 * workers, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.max_threads, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queue: deque[_ToolFuture] = deque()
        self._alive = 0  # threads running a call that still waits for them
        self._zombies = 0  # threads running a call that ended without them

    @property
    def zombies(self) -> int:
        """Threads still running a sync tool whose call already ended."""
        return self._zombies

    @property
    def alive(self) -> int:
        return self._alive

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Queue ``fn`` for a thread; raises ToolFailure (retryable) when zombies hold them all."""
        with self._lock:
            if self._zombies >= self.max_threads:
                raise ToolFailure(
                    f"no thread for this sync tool: all {self.max_threads} threads of the "
                    "worker still run sync tools whose calls timed out or were cancelled "
                    "(threads cannot be stopped); try again later", retryable=True)
            future = _ToolFuture(self, lambda: fn(*args, **kwargs))
            self._queue.append(future)
            self._dispatch()
        return cast(Future[T], future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            with self._lock:
                queued, self._queue = list(self._queue), deque()
            for future in queued:
                future.cancel()
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def _dispatch(self) -> None:
        """Start queued calls while a live call may have a thread (under the lock)."""
        queue = self._queue
        while (queue and self._alive < self.workers
               and self._alive + self._zombies < self.max_threads):
            future = queue.popleft()
            if future.cancelled():
                continue
            try:
                self._pool.submit(self._run, future)
            except RuntimeError:  # shut down: nothing more runs
                future.cancel()
                continue
            self._alive += 1

    def _run(self, future: _ToolFuture) -> None:
        try:
            if not future.set_running_or_notify_cancel():
                return  # cancelled between its dispatch and now
            try:
                result = future.work()
            except BaseException as exc:  # handed to the caller, as a pool does
                future.set_exception(exc)
            else:
                future.set_result(result)
        finally:
            with self._lock:
                if future.zombie:
                    self._zombies -= 1
                else:
                    self._alive -= 1
                self._dispatch()

    def _abandon(self, future: _ToolFuture) -> None:
        """A running call's caller gave up: its thread is a zombie until the tool returns."""
        with self._lock:
            if future.running() and not future.zombie:
                future.zombie = True
                self._alive -= 1
                self._zombies += 1
                self._dispatch()
