"""The call executor: runs many calls at once, bounded, cancellable, each ending in one result.

Parallelism inside a worker comes from one asyncio task per call. Two bounds
keep it honest: a worker-wide cap (``reserve`` blocks the consumer loop when it
is reached, so the worker stops pulling from Kafka instead of dropping or
buffering without limit) and optional per-tool caps (a call past its tool's cap
waits in that tool's queue without holding up other tools).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    Cancellation,
    ToolCallCompleted,
    ToolCallRequested,
    encode,
)

from ..tools import ToolSpec
from .cancellations import CancellationBook
from .outcome import CallOutcome, completed_event
from .runner import run_tool

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A terminal result and its wire bytes, encoded once for both the ledger and the topic."""

    event: ToolCallCompleted
    wire: bytes

    @classmethod
    def of(cls, event: ToolCallCompleted) -> Sealed:
        return cls(event, encode(event))


ResultSink = Callable[[Sealed], Awaitable[None]]
Run = Callable[[], Awaitable[CallOutcome]]
Seal = Callable[[CallOutcome], Sealed]


class CallGuard(Protocol):
    """Stands around the run of one call: rate limits, the execution ledger.

    It may answer without running (a result already recorded, a limit that
    rejects); otherwise it calls ``run`` and turns the outcome into the terminal
    event with ``seal``, which it may record before returning it.
    """

    async def guard(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                    seal: Seal) -> Sealed: ...


@dataclass(slots=True)
class _Running:
    request: ToolCallRequested
    task: asyncio.Task[ToolCallCompleted]
    cancel_reason: str | None = None


@dataclass(slots=True)
class ExecutorStats:
    """Counters the metrics exporter and ``toolformer status`` read."""

    in_flight: int = 0
    started: int = 0
    finished: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class CallExecutor:
    """Runs validated calls concurrently and hands each terminal result to ``sink``."""

    def __init__(
        self,
        *,
        worker_id: str,
        sink: ResultSink,
        max_in_flight: int = 10_000,
        tool_concurrency: Mapping[str, int] | None = None,
        default_timeout_s: float = 30.0,
        guard: CallGuard | None = None,
        thread_workers: int = 32,
    ) -> None:
        self._worker_id = worker_id
        self._sink = sink
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tool_slots = {
            name: asyncio.Semaphore(n) for name, n in (tool_concurrency or {}).items()
        }
        self._default_timeout_s = default_timeout_s
        self._guard = guard
        self._threads = ThreadPoolExecutor(max_workers=thread_workers, thread_name_prefix="tool")
        self._running: dict[str, _Running] = {}
        self._by_session: dict[str, set[str]] = {}
        self.cancellations = CancellationBook()
        self.stats = ExecutorStats()
        self.on_queue_wait: Callable[[str, float], None] | None = None

    async def reserve(self) -> None:
        """Wait for room under the worker-wide cap; call once before each ``submit``."""
        await self._slots.acquire()

    def submit(self, request: ToolCallRequested, spec: ToolSpec, arguments: dict[str, Any],
               *, received_at: datetime) -> asyncio.Task[ToolCallCompleted]:
        """Start ``request``; its result goes to the sink. Needs a prior ``reserve``."""
        existing = self._running.get(request.call_id)
        if existing is not None:
            task = asyncio.create_task(self._follow(existing.task))
        else:
            task = asyncio.create_task(self._execute(request, spec, arguments, received_at))
            self._running[request.call_id] = _Running(request, task)
            self._by_session.setdefault(request.session_id, set()).add(request.call_id)
        self.stats.in_flight += 1
        self.stats.started += 1
        task.add_done_callback(self._release)
        return task

    def cancel(self, cancellation: Cancellation) -> int:
        """Remember ``cancellation`` and cancel the matching running calls; return how many."""
        self.cancellations.record(cancellation)
        branch = cancellation.branch_id if isinstance(cancellation, BranchCancelled) else None
        hit = 0
        for call_id in list(self._by_session.get(cancellation.session_id, ())):
            running = self._running[call_id]
            if branch is not None and running.request.branch_id != branch:
                continue
            if running.cancel_reason is None:
                running.cancel_reason = cancellation.reason
                running.task.cancel()
                hit += 1
        return hit

    def running(self) -> int:
        return len(self._running)

    async def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for running calls to finish; return how many are left."""
        tasks = [r.task for r in self._running.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        return len(self._running)

    async def close(self) -> None:
        for running in list(self._running.values()):
            running.task.cancel()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _execute(self, request: ToolCallRequested, spec: ToolSpec,
                       arguments: dict[str, Any], received_at: datetime) -> ToolCallCompleted:
        def seal(outcome: CallOutcome) -> Sealed:
            return Sealed.of(completed_event(request, outcome, worker_id=self._worker_id,
                                             received_at=received_at))

        try:
            sealed = await self._guarded(request, spec, arguments, seal)
        except asyncio.CancelledError:
            reason = self._cancel_reason(request)
            if reason is None:
                raise  # the worker is shutting down: no result, the offset stays uncommitted
            sealed = seal(CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason))
        finally:
            self._forget(request)
        result = sealed.event
        self.stats.finished += 1
        self.stats.by_status[result.status] = self.stats.by_status.get(result.status, 0) + 1
        await self._sink(sealed)
        return result

    async def _guarded(self, request: ToolCallRequested, spec: ToolSpec,
                       arguments: dict[str, Any], seal: Seal) -> Sealed:
        reason = self.cancellations.reason(request.session_id, request.branch_id)
        if reason is not None:
            return seal(CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason))
        timeout_s = request.timeout_s or spec.timeout_s or self._default_timeout_s
        limit = self._tool_slots.get(spec.name)
        if limit is not None:  # only a tool with a cap has a queue to wait in
            queued = time.monotonic()
            await limit.acquire()
            if self.on_queue_wait is not None:
                self.on_queue_wait(spec.name, time.monotonic() - queued)
        try:
            async def run() -> CallOutcome:
                try:
                    return await run_tool(spec, arguments, timeout_s=timeout_s,
                                          threads=self._threads)
                except asyncio.CancelledError:
                    reason = self._cancel_reason(request)
                    if reason is None:
                        raise
                    return CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason)

            if self._guard is None:
                return seal(await run())
            return await self._guard.guard(request, spec, run, seal)
        finally:
            if limit is not None:
                limit.release()

    def _cancel_reason(self, request: ToolCallRequested) -> str | None:
        running = self._running.get(request.call_id)
        return running.cancel_reason if running is not None else None

    async def _follow(self, task: asyncio.Task[ToolCallCompleted]) -> ToolCallCompleted:
        """A redelivered call that is still running here: answer with the first run's result."""
        result = await asyncio.shield(task)
        await self._sink(Sealed.of(result))
        return result

    def _forget(self, request: ToolCallRequested) -> None:
        self._running.pop(request.call_id, None)
        calls = self._by_session.get(request.session_id)
        if calls is not None:
            calls.discard(request.call_id)
            if not calls:
                del self._by_session[request.session_id]

    def _release(self, task: asyncio.Task[ToolCallCompleted]) -> None:
        self.stats.in_flight -= 1
        self._slots.release()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("a call ended without a published result: %r", error, exc_info=error)
