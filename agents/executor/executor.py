"""The call executor: runs many calls at once, bounded, cancellable, each ending in one result.

Parallelism inside a worker comes from asyncio. Two bounds keep it honest: a
worker-wide cap (``reserve`` blocks the consumer loop when it is reached, so the
worker stops pulling from Kafka instead of dropping or buffering without limit)
and optional per-tool caps (a call past its tool's cap waits in that tool's
queue without holding up other tools).

Two ways in. ``submit`` gives one call a task of its own. ``submit_batch`` takes
the calls of one fetch together: one task claims them all in one round trip,
starts each tool at once, records and publishes those that finished without
waiting (most of them, for quick tools) in one round trip each, and gives a task
only to a call whose tool has to wait, or (with rate limits, admitted for the
whole batch in one decision) to a call its limits do not admit yet. A call the
batch cannot decide (a duplicate in flight, a tool with a cap, a claim held
elsewhere) goes to ``submit``'s path, so both ways keep the same semantics.

Every call ends in a result, whatever fails around it. An exception that is not
the tool's (the ledger's Redis refusing a script, a bug) ends the call it
belongs to in an ``InternalError`` result, and only that call: a batch whose
claims cannot be taken together asks for each call's claim on its own, and a
batch whose results cannot be recorded publishes them unrecorded. Only a
cancellation without a reason (the worker shutting down) leaves a call without
a result, for its redelivery.

Every result is recorded before it is published, not only a tool's: one given
without a run of its own (cancelled before its claim, an error of the worker,
a refusal at intake through :meth:`CallExecutor.answer`) is claimed and recorded
in bulk by a guard that is an :class:`AnswerRecording`. A session takes only
what the ledger holds, so an unrecorded answer would leave it waiting for its
deadline; and a call cancelled after its result was recorded is answered with
that result, once the claim finds it. Only a ``Conflict`` answer stays
unrecorded: the entry belongs to another execution.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    Cancellation,
    ToolCallRequested,
)

from ..log_context import bind_call, unbind
from ..tools import ToolSpec
from ..tracing import CALLS, TRACING, bind_span, unbind_span
from .cancellations import CancellationBook
from .dependencies import InputBoard, RecordedInputs, prepare_arguments
from .guarding import (
    Answered,
    AnswerRecording,
    BatchSink,
    BulkAdmission,
    CallGuard,
    Claimed,
    Opening,
    ResultSink,
    Reused,
    Run,
    Seal,
    Sealed,
)
from .identity import call_fingerprint, conflict_outcome
from .intake import Admission
from .limits import CallLimits
from .outcome import CallOutcome
from .room import Room
from .runner import Rest, run_tool, start_tool
from .threads import ToolThreads

logger = logging.getLogger(__name__)

_UNGUARDED = Claimed(0)  # no guard: every call of a batch may simply run
_UNCLAIMED = Claimed(-1)  # a result given without a claim: claim and record it on its own


@dataclass(slots=True)
class _Running:
    request: ToolCallRequested
    task: asyncio.Task[Any]  # what a cancellation cancels
    ended: asyncio.Future[Sealed]  # its published result, for a duplicate to follow
    cancel_reason: str | None = None


OnEnd = Callable[[int, asyncio.Future[Sealed]], None]


@dataclass(slots=True)
class _Entry:
    """One call of a batch, the future its caller waits on, and who to tell when it ends."""

    admission: Admission
    received_at: datetime
    done: asyncio.Future[Sealed]
    index: int  # its place in the batch, for ``on_end``
    on_end: OnEnd | None
    # Who settles ``done``: the batch; a task that holds the call while it waits (its
    # failure, and a finish its success); or a task of ``submit``'s path, entirely.
    owner: Literal["batch", "held", "task"] = "batch"


# A call that ended, the claim to record its result under (None: nothing to record,
# ``_UNCLAIMED``: claim it to record it), the result.
_Finished = tuple[_Entry, Claimed | None, Sealed]


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
        sink_many: BatchSink | None = None,
        max_in_flight: int = 10_000,
        tool_concurrency: Mapping[str, int] | None = None,
        default_timeout_s: float = 30.0,
        guard: CallGuard | None = None,
        thread_workers: int = 32,
        limits: CallLimits | None = None,
        max_timeout_s: float = 300.0,
        recorded_inputs: RecordedInputs | None = None,
    ) -> None:
        self._worker_id = worker_id
        self._sink = sink
        self._sink_many = sink_many or self._each_to_sink
        self._room = Room(max_in_flight)
        self._owed = 0  # places given back early by dependents cut short while they waited
        self._tool_slots = {
            name: asyncio.Semaphore(n) for name, n in (tool_concurrency or {}).items()
        }
        self._default_timeout_s = default_timeout_s
        self._max_timeout_s = max_timeout_s
        self._guard = guard
        self._limits = limits or CallLimits()
        self._threads = ToolThreads(thread_workers)  # replaces threads stuck past their call
        self._running: dict[str, _Running] = {}
        self._by_session: dict[str, set[str]] = {}
        self._opening: set[str] = set()  # call_ids of batches not yet past their claims
        self._batches: set[asyncio.Task[None]] = set()  # batches, and finishes of held calls
        self._finishing: list[_Finished] = []
        self.cancellations = CancellationBook()
        self.inputs = InputBoard(recorded_inputs)  # results dependent calls wait for
        self.stats = ExecutorStats()
        self.on_queue_wait: Callable[[str, float], None] | None = None
        # Told a tool's cap is full as a real call queues there: speculation yields its place.
        self.on_cap_full: Callable[[str], None] | None = None

    def try_reserve(self) -> bool:
        """``reserve`` if it needs no wait; False (and nothing reserved) if it would."""
        return self._room.try_take()

    async def reserve(self) -> None:
        """Wait for room under the worker-wide cap; call once before each submitted call."""
        await self._room.take()

    async def take_spare_place(self, tool: str) -> bool:
        """A place under ``tool``'s cap for a speculative run, only if one is free and no real
        call waits for it (True, without a place, for a tool with no cap); never waits."""
        limit = self._tool_slots.get(tool)
        if limit is None:
            return True
        if limit.locked():
            return False
        await limit.acquire()  # free, nobody waiting: it returns without suspending
        return True

    def give_spare_place(self, tool: str) -> None:
        """Give back a place :meth:`take_spare_place` took (it passes to a waiting real call)."""
        limit = self._tool_slots.get(tool)
        if limit is not None:
            limit.release()

    def submit(self, request: ToolCallRequested, spec: ToolSpec, arguments: dict[str, Any],
               *, received_at: datetime) -> asyncio.Task[Sealed]:
        """Start ``request``; its result goes to the sink. Needs a prior ``reserve``."""
        existing = self._running.get(request.call_id)
        if existing is not None and call_fingerprint(existing.request) != call_fingerprint(
                request):  # another execution's call_id: never its result, never its session
            task = asyncio.create_task(self._conflict(request, received_at))
        elif existing is not None:
            task = asyncio.create_task(self._follow(existing.ended))
        else:
            task = asyncio.create_task(self._execute(request, spec, arguments, received_at))
            self._track(request, task)
        self.stats.in_flight += 1
        self.stats.started += 1
        task.add_done_callback(self._release)
        return task

    def submit_batch(self, admissions: Sequence[Admission], *, received_at: datetime,
                     on_end: OnEnd | None = None) -> list[asyncio.Future[Sealed]]:
        """Start the calls of one fetch; each future ends once its result is published.

        Needs one prior ``reserve`` per call. A future that ends cancelled or with
        an error had no result published (the worker is shutting down, say).
        ``on_end(i, future)`` is called as the ``i``-th call's future ends, in the
        same step (a done-callback would cost a loop turn per call); it must not
        raise. The futures are the executor's to settle: cancel a call with
        :meth:`cancel`, not through its future.
        """
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Sealed]] = []
        batch: list[_Entry] = []
        for index, admission in enumerate(admissions):
            call_id = admission.request.call_id
            if (call_id in self._running or call_id in self._opening
                    or admission.spec.name in self._tool_slots
                    or admission.request.depends_on):  # waits for its inputs in a task
                alone = self.submit(admission.request, admission.spec, admission.arguments,
                                    received_at=received_at)
                if on_end is not None:
                    alone.add_done_callback(functools.partial(on_end, index))
                futures.append(alone)
                continue
            done: asyncio.Future[Sealed] = loop.create_future()
            self._opening.add(call_id)
            batch.append(_Entry(admission, received_at, done, index, on_end))
            futures.append(done)
        if batch:
            self.stats.in_flight += len(batch)
            self.stats.started += len(batch)
            task = loop.create_task(self._execute_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)
        return futures

    async def answer(self, answers: Sequence[tuple[ToolCallRequested, Sealed]]) -> None:
        """Publish answers to calls that will not run (refused at intake), each recorded
        first under its request's fingerprint like any result, all in one go."""
        if answers:
            recorded = await self._recorded(answers)
            for (request, _), sealed in zip(answers, recorded, strict=True):
                self.inputs.post(sealed, request.tenant)  # a refused input ends its dependents
            await self._sink_many(recorded)

    def cancel(self, cancellation: Cancellation) -> int:
        """Remember ``cancellation`` and cancel the matching running calls (of its tenant
        only); return how many."""
        self.cancellations.record(cancellation)
        branch = cancellation.branch_id if isinstance(cancellation, BranchCancelled) else None
        hit = 0
        for call_id in list(self._by_session.get(cancellation.session_id, ())):
            running = self._running[call_id]
            if running.request.tenant != cancellation.tenant:
                continue  # the same session id, another tenant: not theirs to stop
            if branch is not None and running.request.branch_id != branch:
                continue
            if running.cancel_reason is None:
                running.cancel_reason = cancellation.reason
                running.task.cancel()
                hit += 1
        return hit

    def running(self) -> int:
        return len(self._running) + len(self._opening)

    @property
    def zombie_threads(self) -> int:
        """Threads still running a sync tool whose call ended (:mod:`.threads`)."""
        return self._threads.zombies

    async def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for running calls to finish; return how many are left."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            tasks = [t for t in (*self._batches, *(r.task for r in self._running.values()))
                     if not t.done()]
            if tasks:
                await asyncio.wait(tasks, timeout=left)
            elif self._finishing:  # ended calls whose finish starts on the next loop turn
                await asyncio.sleep(0)
            else:
                break
        return self.running() + len(self._finishing)

    async def close(self) -> None:
        for task in [*self._batches, *(r.task for r in self._running.values())]:
            task.cancel()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- one call, one task ---------------------------------------------------------------

    async def _execute(self, request: ToolCallRequested, spec: ToolSpec,
                       arguments: dict[str, Any], received_at: datetime) -> Sealed:
        bind_call(request.call_id, request.session_id, request.tenant)  # this task's logs
        if TRACING.on:  # this task's spans and log lines are under the call's span
            bind_span(CALLS.get(request.call_id))
        seal = self._sealer(request, received_at)
        unclaimed: Sealed | None = None  # an answer the guard did not record
        try:
            sealed = await self._guarded(request, spec, arguments, seal)
        except asyncio.CancelledError:
            reason = self._cancel_reason(request)
            if reason is None:
                raise  # the worker is shutting down: no result, the offset stays uncommitted
            unclaimed = seal(CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason))
        except Exception:
            logger.exception("call %s failed in the worker; it ends in an InternalError result",
                             request.call_id)
            unclaimed = seal(CallOutcome.internal())
        finally:
            self._forget(request)
        if unclaimed is not None:
            sealed = (await self._recorded([(request, unclaimed)]))[0]
        self._count(sealed, request.tenant)
        await self._sink(sealed)
        return sealed

    async def _guarded(self, request: ToolCallRequested, spec: ToolSpec,
                       arguments: dict[str, Any], seal: Seal) -> Sealed:
        reason = self.cancellations.reason(request.session_id, request.branch_id,
                                           tenant=request.tenant)
        if reason is not None:  # a result recorded before the cancellation wins
            cancelled = seal(CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason))
            return (await self._recorded([(request, cancelled)]))[0]
        if request.depends_on:  # its inputs first: no place, claim or rate held meanwhile
            prepared = await self._prepared(request, spec, arguments)
            if isinstance(prepared, CallOutcome):  # recorded unless a result already is
                return (await self._recorded([(request, seal(prepared))]))[0]
            arguments = prepared
        limit = self._tool_slots.get(spec.name)
        if limit is not None:  # only a tool with a cap has a queue to wait in
            if limit.locked() and self.on_cap_full is not None:
                self.on_cap_full(spec.name)
            queued = time.monotonic()
            await limit.acquire()
            if self.on_queue_wait is not None:
                self.on_queue_wait(spec.name, time.monotonic() - queued)
        try:
            run = self._runner(request, spec, arguments, None)
            if self._guard is None:
                return seal(await run())
            return await self._guard.guard(request, spec, run, seal)
        finally:
            if limit is not None:
                limit.release()

    async def _prepared(self, request: ToolCallRequested, spec: ToolSpec,
                        arguments: dict[str, Any]) -> dict[str, Any] | CallOutcome:
        """A dependent's arguments once its inputs are in; while it waits it gives its place
        under the worker-wide cap back (its inputs may need it), and takes one again after."""
        self._room.give_back()
        back = False
        try:
            prepared = await prepare_arguments(self.inputs, request, spec, arguments,
                                               timeout_s=self._timeout_of(request, spec),
                                               limits=self._limits)
            await self._room.take()
            back = True
        finally:
            if not back and not self._room.try_take():
                self._owed += 1  # cut short without its place: the next release keeps one
        return prepared

    def _runner(self, request: ToolCallRequested, spec: ToolSpec, arguments: dict[str, Any],
                begun: Rest | None) -> Run:
        """The call's ``run``: the first continues ``begun`` if a batch began it; a
        cancellation with a reason becomes the ``cancelled`` outcome.

        A call cut short while it ran says when it started, so its time shows as
        running, not queued; its one attempt counts, retries before it do not.
        """
        timeout_s = self._timeout_of(request, spec)

        async def run() -> CallOutcome:
            nonlocal begun
            rest, begun = begun, None
            started = datetime.now(UTC)  # a begun call started a loop turn or so earlier
            try:
                if rest is not None:
                    return await rest
                return await run_tool(spec, arguments, timeout_s=timeout_s,
                                      threads=self._threads)
            except asyncio.CancelledError:
                reason = self._cancel_reason(request)
                if reason is None:
                    raise
                return CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason,
                                          attempts=1, started_at=started)

        return run

    async def _conflict(self, request: ToolCallRequested, received_at: datetime) -> Sealed:
        """A call whose call_id is running here for another execution: a Conflict error."""
        sealed = self._sealer(request, received_at)(conflict_outcome(request))
        self._count(sealed, request.tenant)
        await self._sink(sealed)
        return sealed

    async def _follow(self, ended: asyncio.Future[Sealed]) -> Sealed:
        """A redelivered call that is still running here: answer with the first run's result."""
        sealed = await asyncio.shield(ended)
        await self._sink(sealed)
        return sealed

    # -- the calls of one fetch, one task -------------------------------------------------

    async def _execute_batch(self, batch: list[_Entry]) -> None:
        finished: list[_Finished] = []
        try:
            runnable: list[_Entry] = []
            for entry in batch:  # cancelled before they arrived: no claim, no run
                cancelled = self._cancelled(entry)
                if cancelled is None:
                    runnable.append(entry)
                else:  # its claim looks up the ledger: a recorded result wins
                    finished.append((entry, _UNCLAIMED, cancelled))
            try:
                openings = await self._open(runnable)
            except Exception:  # one foreign ledger entry, say: ask for each claim alone
                logger.exception("claiming a batch of %d calls failed; claiming each alone",
                                 len(runnable))
                openings = [None] * len(runnable)
            starts = await self._admit(runnable, openings)
            dropped = self._start_all(runnable, openings, starts, finished)
            if dropped and self._guard is not None:
                await self._hand_back(dropped)
            self._opening.difference_update(e.admission.request.call_id for e in batch)
            await self._finish(finished)
        except asyncio.CancelledError:
            self._abandon([e for e in batch if e.owner == "batch"], None)
            raise
        except Exception as exc:
            await self._fail([e for e in batch if e.owner == "batch"], exc)

    async def _open(self, entries: list[_Entry]) -> list[Opening]:
        if not entries:
            return []
        if self._guard is None:
            return [_UNGUARDED] * len(entries)
        return await self._guard.open_many([e.admission.request for e in entries])

    async def _admit(self, entries: list[_Entry], openings: list[Opening]) -> list[bool]:
        """Which claimed calls may start at once: all under an eager guard; under one
        that admits in bulk, those it admitted (the others wait in ``hold``)."""
        guard = self._guard
        if guard is None or guard.eager or not isinstance(guard, BulkAdmission):
            return [guard is None or guard.eager] * len(entries)
        starts = [False] * len(entries)
        asked: list[int] = []
        calls: list[tuple[ToolCallRequested, ToolSpec, Claimed]] = []
        for i, (entry, opening) in enumerate(zip(entries, openings, strict=True)):
            if isinstance(opening, Claimed) and opening.after is None and not opening.waits:
                asked.append(i)
                calls.append((entry.admission.request, entry.admission.spec, opening))
        if not calls:
            return starts
        try:
            admitted = await guard.admit_many(calls)
        except Exception:  # each call asks for its admission in ``hold`` instead
            logger.exception("admitting a batch of %d calls failed; admitting each alone",
                             len(calls))
            return starts
        for i, now in zip(asked, admitted, strict=True):
            starts[i] = now
        return starts

    def _start_all(self, entries: list[_Entry], openings: list[Opening], starts: list[bool],
                   finished: list[_Finished]) -> list[tuple[ToolCallRequested, Claimed]]:
        """Start each claimed tool that may start now; those done at once join ``finished``.

        Returns the claims to hand back: of calls cancelled while they were being
        claimed, and of tools that raised CancelledError before they waited.
        """
        dropped: list[tuple[ToolCallRequested, Claimed]] = []
        for entry, opening, eager in zip(entries, openings, starts, strict=True):
            bound = bind_call(entry.admission.request.call_id,
                              entry.admission.request.session_id, entry.admission.request.tenant)
            traced = bind_span(CALLS.get(entry.admission.request.call_id)) if TRACING.on else None
            try:
                self._start_one(entry, opening, eager, finished, dropped)
            except Exception:  # anything but the tool's own failure, which is an outcome
                request = entry.admission.request
                logger.exception("starting call %s failed in the worker; it ends in an "
                                 "InternalError result", request.call_id)
                claimed = (opening if isinstance(opening, Claimed) and opening is not _UNGUARDED
                           else _UNCLAIMED)
                finished.append((entry, claimed, self._sealer(request, entry.received_at)(
                    CallOutcome.internal())))
            finally:
                unbind_span(traced)
                unbind(bound)  # a held call's task keeps its own copy
        return dropped

    def _start_one(self, entry: _Entry, opening: Opening, eager: bool,
                   finished: list[_Finished],
                   dropped: list[tuple[ToolCallRequested, Claimed]]) -> None:
        request = entry.admission.request
        if opening is None:
            self._hand_over(entry)
        elif isinstance(opening, Answered):
            finished.append((entry, None, opening.sealed))
        elif isinstance(opening, Reused):  # a cached result, recorded under this call's claim
            finished.append((entry, opening.claimed,
                             self._sealer(request, entry.received_at)(opening.outcome)))
        elif (cancelled := self._cancelled(entry)) is not None:  # while it was claimed
            finished.append((entry, None if opening is _UNGUARDED else opening, cancelled))
        elif opening.after is not None or opening.waits or not eager:  # the guard decides
            self._hold(entry, opening, None)
        else:
            admission = entry.admission
            spec = admission.spec
            try:
                begun = start_tool(
                    spec, admission.arguments, threads=self._threads,
                    timeout_s=self._timeout_of(request, spec))
            except asyncio.CancelledError:  # the tool's own, before it waited
                # As on submit's path: no result, the claim handed back, the others go on.
                if opening is not _UNGUARDED:
                    dropped.append((request, opening))
                self._end(entry)
                return
            if isinstance(begun, CallOutcome):
                sealed = Sealed.of_outcome(request, begun, worker_id=self._worker_id,
                                           received_at=entry.received_at, limits=self._limits)
                finished.append((entry, None if opening is _UNGUARDED else opening, sealed))
            else:
                self._hold(entry, opening, begun)

    def _hold(self, entry: _Entry, claimed: Claimed, begun: Rest | None) -> None:
        """Run a claimed call that has to wait in a task; its result joins the next finish."""
        task = asyncio.create_task(self._held(entry, claimed, begun))
        self._track(entry.admission.request, task, entry.done)
        entry.owner = "held"
        task.add_done_callback(functools.partial(self._settle, entry, with_result=False))

    async def _held(self, entry: _Entry, claimed: Claimed, begun: Rest | None) -> None:
        admission = entry.admission
        request = admission.request
        seal = self._sealer(request, entry.received_at)
        run = self._runner(request, admission.spec, admission.arguments, begun)
        try:
            if self._guard is None or claimed is _UNGUARDED:
                sealed, kept = seal(await run()), None
            else:
                sealed = await self._guard.hold(request, admission.spec, claimed, run, seal)
                kept = claimed
        except asyncio.CancelledError:
            reason = self._cancel_reason(request)
            if reason is None:
                raise  # the worker is shutting down: no result, the offset stays uncommitted
            sealed = seal(CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason))
            kept = _UNCLAIMED
        except Exception:
            logger.exception("call %s failed in the worker; it ends in an InternalError result",
                             request.call_id)
            sealed, kept = seal(CallOutcome.internal()), _UNCLAIMED
        finally:
            if begun is not None:
                begun.close()  # a no-op once awaited; a rest never started must not leak
            self._forget(request)
        self._finish_soon((entry, kept, sealed))

    def _finish_soon(self, item: _Finished) -> None:
        """Gather calls that end in the same loop turn into one record and one publish."""
        self._finishing.append(item)
        if len(self._finishing) == 1:
            asyncio.get_running_loop().call_soon(self._finish_gathered)

    def _finish_gathered(self) -> None:
        items, self._finishing = self._finishing, []
        task = asyncio.get_running_loop().create_task(self._finish_apart(items))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def _finish_apart(self, items: list[_Finished]) -> None:
        try:
            await self._finish(items)
        except asyncio.CancelledError:
            self._abandon([entry for entry, _, _ in items if entry.owner != "task"], None)
            raise
        except Exception as exc:
            await self._fail([entry for entry, _, _ in items if entry.owner != "task"], exc)

    async def _finish(self, finished: list[_Finished]) -> None:
        """Record the results under their claims (one round trip), then publish them."""
        guarded = self._guard is not None
        ready = [(entry, sealed) for entry, claimed, sealed in finished
                 if claimed is None or not guarded]
        claimed_ones = [(entry, claimed, sealed) for entry, claimed, sealed in finished
                        if claimed is not None and claimed is not _UNCLAIMED and guarded]
        unclaimed = [(entry, sealed) for entry, claimed, sealed in finished
                     if claimed is _UNCLAIMED and guarded]
        if unclaimed:
            answers = await self._recorded([(e.admission.request, s) for e, s in unclaimed])
            ready.extend((entry, sealed) for (entry, _), sealed in zip(unclaimed, answers,
                                                                       strict=True))
        if claimed_ones and self._guard is not None:
            try:
                recorded = await self._guard.record_many(
                    [(entry.admission.request, claimed, sealed)
                     for entry, claimed, sealed in claimed_ones])
            except Exception:  # Redis refused (out of memory, read-only): answer all the same
                logger.exception("recording %d results failed; publishing them unrecorded",
                                 len(claimed_ones))
                recorded = [True] * len(claimed_ones)
            for (entry, _, sealed), kept in zip(claimed_ones, recorded, strict=True):
                if kept:
                    ready.append((entry, sealed))
                else:  # the claim was lost meanwhile: ask again, call by call
                    logger.warning("lost the lease of call %s while it ran; answering with "
                                   "what the ledger holds", entry.admission.request.call_id)
                    self._hand_over(entry)
        if not ready:
            return
        for entry, sealed in ready:
            self._count(sealed, entry.admission.request.tenant)
        await self._sink_many([sealed for _, sealed in ready])
        for entry, sealed in ready:
            self._end(entry, sealed)

    async def _fail(self, entries: list[_Entry], error: Exception) -> None:
        """End unsettled calls of a batch that failed in the worker with InternalError results."""
        logger.error("a batch failed in the worker: %r; its %d unsettled calls end in "
                     "InternalError results", error, len(entries), exc_info=error)
        self._opening.difference_update(e.admission.request.call_id for e in entries)
        left = [entry for entry in entries if not entry.done.done()]
        results = [self._sealer(e.admission.request, e.received_at)(CallOutcome.internal())
                   for e in left]
        try:
            results = await self._recorded([(e.admission.request, sealed)
                                            for e, sealed in zip(left, results, strict=True)])
            await self._sink_many(results)
        except Exception as exc:  # not even that could be published: redelivery will tell
            self._abandon(left, exc)
            return
        for entry, sealed in zip(left, results, strict=True):
            self._count(sealed, entry.admission.request.tenant)
            self._end(entry, sealed)

    async def _hand_back(self, held: list[tuple[ToolCallRequested, Claimed]]) -> None:
        """Hand claims back; one that cannot be is left to expire with its lease."""
        assert self._guard is not None
        try:
            await self._guard.release_many(held)
        except Exception:
            logger.exception("could not hand back %d claims; their leases will expire",
                             len(held))

    def _abandon(self, entries: list[_Entry], error: Exception | None) -> None:
        """End unsettled calls without a result: their offsets stay uncommitted."""
        self._opening.difference_update(e.admission.request.call_id for e in entries)
        for entry in entries:
            self._end(entry, error=error)

    def _hand_over(self, entry: _Entry) -> None:
        """Give one call of a batch to ``submit``'s path, in a task of its own."""
        admission = entry.admission
        task = asyncio.create_task(self._execute(
            admission.request, admission.spec, admission.arguments, entry.received_at))
        self._track(admission.request, task)
        entry.owner = "task"
        task.add_done_callback(functools.partial(self._settle, entry))

    def _cancelled(self, entry: _Entry) -> Sealed | None:
        request = entry.admission.request
        reason = self.cancellations.reason(request.session_id, request.branch_id,
                                           tenant=request.tenant)
        if reason is None:
            return None
        outcome = CallOutcome.failed(CallStatus.CANCELLED, "Cancelled", reason)
        return self._sealer(request, entry.received_at)(outcome)

    async def _recorded(self, answers: Sequence[tuple[ToolCallRequested, Sealed]]
                        ) -> list[Sealed]:
        """What to publish for answers given without a claim, recorded if the guard can."""
        guard = self._guard
        if guard is None or not answers or not isinstance(guard, AnswerRecording):
            return [sealed for _, sealed in answers]
        try:
            return await guard.record_answers(answers)
        except Exception:  # Redis refused (out of memory, read-only): answer all the same
            logger.exception("recording %d answers failed; publishing them unrecorded",
                             len(answers))
            return [sealed for _, sealed in answers]

    async def _each_to_sink(self, results: Sequence[Sealed]) -> None:
        await asyncio.gather(*(self._sink(sealed) for sealed in results))

    # -- bookkeeping ----------------------------------------------------------------------

    def _timeout_of(self, request: ToolCallRequested, spec: ToolSpec) -> float:
        return spec.timeout_for(request.timeout_s, default_s=self._default_timeout_s,
                                max_s=self._max_timeout_s)

    def _sealer(self, request: ToolCallRequested, received_at: datetime) -> Seal:
        def seal(outcome: CallOutcome) -> Sealed:
            return Sealed.of_outcome(request, outcome, worker_id=self._worker_id,
                                     received_at=received_at, limits=self._limits)
        return seal

    def _count(self, result: Sealed, tenant: str) -> None:
        self.inputs.post(result, tenant)  # cheap: builds nothing unless a dependent waits
        self.stats.finished += 1
        self.stats.by_status[result.status] = self.stats.by_status.get(result.status, 0) + 1

    def _track(self, request: ToolCallRequested, task: asyncio.Task[Any],
               ended: asyncio.Future[Sealed] | None = None) -> None:
        self._running.setdefault(request.call_id, _Running(request, task, ended or task))
        self._by_session.setdefault(request.session_id, set()).add(request.call_id)

    def _cancel_reason(self, request: ToolCallRequested) -> str | None:
        running = self._running.get(request.call_id)
        return running.cancel_reason if running is not None else None

    def _forget(self, request: ToolCallRequested) -> None:
        self._running.pop(request.call_id, None)
        calls = self._by_session.get(request.session_id)
        if calls is not None:
            calls.discard(request.call_id)
            if not calls:
                del self._by_session[request.session_id]

    def _release(self, done: asyncio.Future[Sealed]) -> None:
        self.stats.in_flight -= 1
        if self._owed:  # a dependent that ended holding no place already gave this one back
            self._owed -= 1
        else:
            self._room.give_back()
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.error("a call ended without a published result: %r", error, exc_info=error)

    def _end(self, entry: _Entry, sealed: Sealed | None = None, *,
             error: BaseException | None = None) -> None:
        """End a call of a batch, once: with its published result, else with none
        (cancelled, or failed with ``error``); give its room back and say so."""
        done = entry.done
        if done.done():
            return
        if sealed is not None:
            done.set_result(sealed)
        elif error is not None:
            done.set_exception(error)
        else:
            done.cancel()
        self._release(done)
        if entry.on_end is not None:
            entry.on_end(entry.index, done)

    def _settle(self, entry: _Entry, task: asyncio.Task[Any], *,
                with_result: bool = True) -> None:
        """Pass the end of a call's task to its entry.

        A task that holds a call (``with_result=False``) passes only its failure:
        its result reaches the entry through the finish it joins.
        """
        if task.cancelled():
            self._end(entry)
        elif (error := task.exception()) is not None:
            self._end(entry, error=error)
        elif with_result:
            self._end(entry, task.result())
