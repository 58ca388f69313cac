"""Speculation in the worker: run a session's likely next calls early, into the result cache.

After each result a session receives, the predictor proposes the calls its next
turn is likely to make. Those that qualify (``budget.screen`` in ``agents/speculation``:
read-only, idempotent, cached tools, bounded arguments) start at once, each as
a *flight* of the result cache, so their ``ok`` output lands there and a real
call of the same (tenant, tool, arguments) arriving meanwhile joins the run
instead of starting its own. Nothing is ever published to ``results``: a
session gets a speculative output only by asking for the call, through the
cache, sealed for its own call like any cached answer.

Low priority, always:

- **Budget.** At most a share of the worker's capacity, of each tool's cap, and
  a few per session (:class:`~async_toolformer.agents.speculation.budget.SpeculationBudget`).
- **Tool caps.** A run takes a place under its tool's cap only when one is free
  and no real call waits; a real call that finds the cap full cancels a run
  holding a place (:meth:`SpeculationRuntime.yield_place`), which hands it over.
- **Rate limits.** A run passes only if its limits keep a reserve for real
  calls, and never queues (:mod:`.speculation_limits`).
- **Threads.** Sync tools run on a small pool of their own.

A run ends *used* when the session asks for its call, else *wasted* once the
session's next turn is complete without it or the session ends (then it is
cancelled if still running, and its output deleted from the cache, so it answers
no later call). A session's call of a tool that is not read-only wastes its
unused runs the same way, and no run starts until that call is answered: a run
could read before the write and answer a read after it. Each run is journaled
once it is decided, as a ``SpeculativeCallRan`` on the session's journal, and
counted in the metrics;
the predictor is told whether it was used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from async_toolformer.agents.executor.cache_keys import CacheKey
from async_toolformer.agents.executor.runner import run_tool
from async_toolformer.agents.executor.threads import ToolThreads
from async_toolformer.agents.policy import Policy
from async_toolformer.agents.speculation import Predictor
from async_toolformer.agents.speculation.budget import (
    Candidate,
    SpeculationBudget,
    SpeculationLimits,
    may_speculate,
    screen,
)
from async_toolformer.agents.tools import ToolRegistry, ToolSpec
from async_toolformer.schemas import (
    CallStatus,
    SpeculativeCallRan,
    ToolCallCompleted,
    ToolCallRequested,
)
from async_toolformer.streams.redis.ratelimit import CallQuota, Permit
from async_toolformer.streams.redis.result_cache import NOT_OK, Flight, ResultCache
from async_toolformer.streams.worker.speculation_metrics import SpeculationMetrics

__all__ = ["Places", "SpeculationRuntime", "SpareRates"]

logger = logging.getLogger(__name__)

CANCELLED = "cancelled"
MAX_SESSIONS = 10_000  # sessions tracked at once; the least recently active is let go
MAX_WRITES_PENDING = 256  # a session's unanswered calls that may write, remembered


class Places(Protocol):
    """Places under the tools' caps (the executor's), taken only when free."""

    async def take_spare_place(self, tool: str) -> bool: ...

    def give_spare_place(self, tool: str) -> None: ...


class SpareRates(Protocol):
    """Rate-limit admission from spare capacity only (:mod:`.speculation_limits`)."""

    async def admit(self, quota: CallQuota) -> Permit | None: ...


Journal = Callable[[SpeculativeCallRan], None]


@dataclass(slots=True, eq=False)
class _Run:
    """One speculative run, from its start to the decision whether it was used."""

    session_id: str
    tenant: str
    candidate: Candidate
    generation: int  # the session's model turn when it started
    started: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    task: asyncio.Task[None] | None = None
    holds_place: bool = False
    status: str | None = None  # None while it runs
    run_ms: float = 0.0
    used_by: str | None = None
    saved_ms: float = 0.0
    decided: bool = False
    forgotten: bool = False  # wasted or overtaken by a write: its output must not answer
    landed: bool = False  # its flight ended (and its output stored, if ``stored``)
    stored: bool = False

    @property
    def tool(self) -> str:
        return self.candidate.tool

    @property
    def key(self) -> CacheKey:
        return self.candidate.key

    def stop(self, status: str) -> None:
        """End it now as ``status`` (its task, if any, is cancelled)."""
        if self.status is None:
            self.status = status
            self.run_ms = (time.monotonic() - self.started) * 1000
        if self.task is not None and not self.task.done():
            self.task.cancel()


@dataclass(slots=True)
class _Session:
    tenant: str
    turn: int = 0
    runs: dict[tuple[str, str], _Run] = field(default_factory=dict)
    writes: set[str] = field(default_factory=set)  # calls that may write, not yet answered


class SpeculationRuntime:
    """Speculative runs of one worker: started on results, decided on calls and turns."""

    def __init__(self, *, predictor: Predictor, registry: ToolRegistry, cache: ResultCache,
                 places: Places, limits: SpeculationLimits, worker_max_in_flight: int,
                 metrics: SpeculationMetrics, tool_caps: dict[str, int] | None = None,
                 rates: SpareRates | None = None, default_timeout_s: float = 30.0,
                 max_timeout_s: float = 300.0, policy: Policy | None = None) -> None:
        self._predictor = predictor
        self._registry = registry
        self._cache = cache
        self._places = places
        self._rates = rates
        self._limits = limits
        self._tool_caps = dict(tool_caps or {})
        self._budget = SpeculationBudget(limits, worker_max_in_flight)
        self._metrics = metrics
        self._default_timeout_s = default_timeout_s
        self._max_timeout_s = max_timeout_s
        self._threads = ToolThreads(min(8, limits.worker_cap(worker_max_in_flight)))
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._running: set[_Run] = set()
        self._policy = policy  # what each tenant may call (None: everything)
        self._forgetting: set[asyncio.Task[None]] = set()
        self.journal: Journal | None = None  # where decided runs are written
        metrics.in_flight.set_function(lambda: len(self._running))

    @property
    def in_flight(self) -> int:
        """Speculative runs under way now."""
        return len(self._running)

    # -- what the session loop did ------------------------------------------------------

    def on_call(self, request: ToolCallRequested, *, turn: str | None = None) -> None:
        """A session dispatched ``request``: learn from it, and use a run that predicted it."""
        session = self._session(request.session_id, request.tenant)
        self._guarded(self._predictor.observe_call, request.tenant, request.session_id,
                      request.call_id, request.tool, request.arguments,
                      turn=turn if turn is not None else str(session.turn))
        spec = self._spec(request.tool)
        if spec is None or not spec.read_only:
            if len(session.writes) < MAX_WRITES_PENDING:  # past it: off until the session ends
                session.writes.add(request.call_id)
            self._overtaken(session)  # a write may change what the session's runs read
            return
        if not may_speculate(spec) or request.cache != "use":
            return
        key = self._cache.key_of(request.tenant, spec, request.arguments)
        run = session.runs.get((request.tool, key.digest)) if key is not None else None
        if run is None or run.used_by is not None:
            self._metrics.missed()
            return
        run.used_by = request.call_id
        waited_ms = (time.monotonic() - run.started) * 1000
        if run.status is None:  # the real call joins the run under way
            run.saved_ms = waited_ms
        elif run.status == CallStatus.OK.value:
            run.saved_ms = run.run_ms
        if run.status is not None:
            self._decide(run)

    def on_result(self, result: ToolCallCompleted, tenant: str) -> None:
        """Session of ``tenant`` took ``result``: learn from it, start what it predicts next."""
        session = self._session(result.session_id, tenant)
        session.writes.discard(result.call_id)
        self._guarded(self._predictor.observe_result, tenant, result.session_id,
                      result.call_id, result.tool, status=result.status.value,
                      value=result.output if result.ok else None)
        predictions = self._guarded(self._predictor.predict, tenant, result.session_id)
        if predictions is None:
            return
        self._metrics.predicted(len(predictions) if isinstance(predictions, Sequence) else 1)
        if session.writes:  # a run now might read before that write and answer after it
            self._metrics.refuse("write_pending")
            return
        candidates, refused = screen(predictions, tenant, self._spec, self._limits,
                                     policy=self._policy)
        for reason, count in refused.items():
            self._metrics.refuse(reason, count)
        for candidate in candidates:
            self._start(result.session_id, session, candidate)

    def on_turn_started(self, session_id: str, tenant: str, turn: int) -> None:
        self._session(session_id, tenant).turn = turn

    def on_turn_completed(self, session_id: str, turn: int) -> None:
        """Model turn ``turn`` is complete: runs started before it began, and not asked for
        by it, are wasted (those started during it aim at the next turn)."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        for run in list(session.runs.values()):
            if run.used_by is None and run.generation < turn:
                run.stop(CANCELLED)
                self._decide(run)

    def on_session_end(self, session_id: str) -> None:
        """The session ended: cancel and decide its runs, forget it."""
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        self._let_go(session_id, session)

    def _overtaken(self, session: _Session) -> None:
        """The session called a tool that may write: its unused runs may have read
        before the write, so they are stopped, wasted and their outputs forgotten."""
        for run in list(session.runs.values()):
            if run.used_by is None:
                run.stop(CANCELLED)
                self._decide(run)

    def yield_place(self, tool: str) -> None:
        """A real call found ``tool``'s cap full: cancel one unused run holding a place there.

        A run a session's call already joined is real work and keeps its place.
        """
        victims = [run for run in self._running
                   if run.tool == tool and run.holds_place and run.used_by is None]
        if victims:
            victim = max(victims, key=lambda run: run.started)  # the least work lost
            victim.stop(CANCELLED)
            self._metrics.preempted.inc()

    async def close(self) -> None:
        """Cancel every run (the worker stops); their flights end, their places go back.

        Nothing is journaled or fed back then: whether a run would have been used is
        not known, and the sessions carry on with the partition's next owner.
        """
        self.journal = None
        self._sessions.clear()
        tasks = [run.task for run in self._running if run.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._threads.shutdown(wait=False, cancel_futures=True)

    # -- runs ---------------------------------------------------------------------------

    def _start(self, session_id: str, session: _Session, candidate: Candidate) -> None:
        if (candidate.tool, candidate.key.digest) in session.runs:
            self._metrics.refuse("duplicate")
            return
        refusal = self._budget.refusal(candidate.tool, session_id,
                                       self._tool_caps.get(candidate.tool))
        if refusal is not None:
            self._metrics.refuse(refusal)
            return
        run = _Run(session_id, session.tenant, candidate, session.turn)
        session.runs[(candidate.tool, candidate.key.digest)] = run
        self._budget.start(candidate.tool, session_id)
        self._running.add(run)
        run.task = asyncio.get_running_loop().create_task(self._speculate(run))
        run.task.add_done_callback(lambda _: self._ended(run))

    async def _speculate(self, run: _Run) -> None:
        spec = run.candidate.spec
        permit: Permit | None = None
        flight: Flight | None = None
        output: Any = NOT_OK
        try:
            skipped = await self._prepare(run)
            if isinstance(skipped, str):
                self._skip(run, skipped)
                return
            permit, flight = skipped
            timeout_s = spec.timeout_for(None, default_s=self._default_timeout_s,
                                         max_s=self._max_timeout_s)
            outcome = await run_tool(spec, run.candidate.arguments, timeout_s=timeout_s,
                                     threads=self._threads)
            if outcome.status is CallStatus.OK:
                output = outcome.output
            if run.status is None:
                run.status = outcome.status.value
                run.run_ms = (time.monotonic() - run.started) * 1000
        except asyncio.CancelledError:
            if run.status is None:
                run.stop(CANCELLED)
        except Exception:  # a bug of ours: the run is dropped, the worker goes on
            logger.exception("speculative run of %s failed in the worker", run.tool)
            run.stop("internal_error")
        finally:
            if permit is not None:
                permit.release()
            if run.holds_place:
                run.holds_place = False
                self._places.give_spare_place(run.tool)
            if flight is not None:  # store an ok output, and let joiners go on either way
                await asyncio.shield(self._land(run, flight, output))

    async def _land(self, run: _Run, flight: Flight, output: Any) -> None:
        """End the run's flight, storing an ok output unless the run is forgotten (also
        if it is forgotten while this stores: the entry is deleted again)."""
        keep = output is not NOT_OK and not run.forgotten
        await self._cache.finish([(flight, output if keep else NOT_OK)])
        if keep and run.forgotten:
            await self._cache.forget([run.key])
            keep = False
        run.stored = keep
        run.landed = True

    def _forget(self, run: _Run) -> None:
        """A wasted run's output must answer no call: delete its entry once stored."""
        run.forgotten = True
        if run.landed and run.stored:
            run.stored = False
            task = asyncio.get_running_loop().create_task(self._cache.forget([run.key]))
            self._forgetting.add(task)
            task.add_done_callback(self._forgetting.discard)

    async def _prepare(self, run: _Run) -> tuple[Permit | None, Flight] | str:
        """Its place, its rate-limit permit and its flight; or why it does not run (all
        that it took given back but the place, which ``_speculate`` gives back)."""
        spec = run.candidate.spec
        if not await self._places.take_spare_place(run.tool):
            return "tool_busy"
        run.holds_place = True
        permit: Permit | None = None
        if self._rates is not None:
            permit = await self._rates.admit(CallQuota(
                tool=run.tool, service=spec.service, tenant=run.tenant,
                cost=spec.cost_of(run.candidate.arguments)))
            if permit is None:
                return "rate_reserve"
        try:
            [opening] = await self._cache.begin([run.key])
        except BaseException:
            if permit is not None:
                permit.release()
            raise
        if not isinstance(opening, Flight):  # cached already, running elsewhere, or no Redis
            if permit is not None:
                permit.release()
            return "not_needed"
        return permit, opening

    def _skip(self, run: _Run, reason: str) -> None:
        """The run did not start after all: as if it never was (counted, not journaled)."""
        run.decided = True
        self._metrics.refuse(reason)
        session = self._sessions.get(run.session_id)
        if session is not None and session.runs.get((run.tool, run.key.digest)) is run:
            del session.runs[(run.tool, run.key.digest)]

    def _ended(self, run: _Run) -> None:
        self._running.discard(run)
        self._budget.end(run.tool, run.session_id)
        if run.status is None:
            run.status = CANCELLED
        if run.used_by is not None and not run.decided:
            if run.status != CallStatus.OK.value:
                run.saved_ms = 0.0  # the joined call ran on its own
            self._decide(run)

    def _decide(self, run: _Run) -> None:
        """Journal, count and feed back a run whose use is known, once."""
        if run.decided:
            return
        run.decided = True
        session = self._sessions.get(run.session_id)
        if session is not None and session.runs.get((run.tool, run.key.digest)) is run:
            del session.runs[(run.tool, run.key.digest)]
        used = run.used_by is not None
        if not used:
            self._forget(run)
        status = run.status or CANCELLED
        self._metrics.resolved(status, used, run.run_ms, run.saved_ms)
        self._guarded(self._predictor.feedback, run.tenant, run.tool, used)
        if self.journal is not None:
            candidate = run.candidate
            self.journal(SpeculativeCallRan(
                session_id=run.session_id, tool=run.tool, arguments_digest=run.key.digest,
                confidence=candidate.confidence, source=candidate.source, status=status[:32],
                used=used, call_id=run.used_by, run_ms=round(run.run_ms, 3),
                saved_ms=round(run.saved_ms, 3), started_at=run.started_at))

    # -- bookkeeping --------------------------------------------------------------------

    def _session(self, session_id: str, tenant: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(tenant)
            while len(self._sessions) > MAX_SESSIONS:
                oldest, dropped = self._sessions.popitem(last=False)
                self._let_go(oldest, dropped)
        else:
            self._sessions.move_to_end(session_id)
        return session

    def _let_go(self, session_id: str, session: _Session) -> None:
        for run in list(session.runs.values()):
            run.stop(CANCELLED)
            self._decide(run)
        self._guarded(self._predictor.end_session, session.tenant, session_id)

    def _spec(self, tool: str) -> ToolSpec | None:
        return self._registry.get(tool) if tool in self._registry else None

    def _guarded(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the predictor; one that raises is logged and ignored (None)."""
        try:
            return method(*args, **kwargs)
        except Exception:
            logger.exception("the speculation predictor raised in %s; ignored",
                             getattr(method, "__name__", "?"))
            self._metrics.refuse("predictor_error")
            return None
