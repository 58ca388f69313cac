"""What stands around each tool run: the execution ledger and the rate limits.

Order matters. The ledger claim comes first, so a call that another worker is
running, or has answered, is never queued on a rate limit or run again; the
lease is kept alive while the call waits for its limits and runs; the sealed
result is recorded under the claim's fencing token before it is published, so
a redelivery after a crash is answered from the record.

The claim protocol, shared with model turns, is :mod:`.claim` (docs/semantics.md):

- ``Recorded``: publish the recorded result again, byte for byte the same event.
- ``HeldElsewhere``: a live worker runs it; wait for its record or its lease to end.
- ``Conflict``: the call_id is held or recorded for another execution (another
  tenant, session, tool or arguments: :mod:`~async_toolformer.agents.executor.identity`);
  answer a ``Conflict`` error to the requester's own session, unrecorded.
- ``Acquired`` after an expired lease: run again only an idempotent tool, else
  answer ``indeterminate`` (its side effect may or may not have happened).
- A call whose tool started here is never started here again: on a stop its
  claim is kept until the lease expires; if its record is refused (the ledger
  key is gone, or its lease was lost and the tool cancelled) it is answered from
  the new owner's record, else ``indeterminate``.

The executor asks for a fetch's calls at once (``open_many``, ``record_many``:
one round trip each for the whole batch), with the same decisions; a call held
elsewhere, in conflict, or whose record was refused, is left to ``guard``, which
remembers the calls that started here. A result given without a run of its own (a
refusal at intake, a cancellation before the claim, an error of the worker) is
claimed and recorded in bulk too (``record_answers``), so the session that sent
the call takes it; a call held by a live lease or belonging to another execution
is left alone. Entries live under ``call:<call_id>``
(:func:`~async_toolformer.streams.redis.ledger.call_key`), apart from model turns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from async_toolformer.agents.executor import (
    Answered,
    CallOutcome,
    Claimed,
    Opening,
    Run,
    Seal,
    Sealed,
)
from async_toolformer.agents.executor.identity import call_fingerprint, conflict_outcome
from async_toolformer.agents.tools import ToolSpec
from async_toolformer.agents.tracing import CALLS, TRACING, spans_between
from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.redis.claim import ClaimProtocol, LeaseLostError, Stint, retrying
from async_toolformer.streams.redis.ledger import (
    Acquired,
    Conflict,
    HeldElsewhere,
    Ledger,
    LedgerUnavailableError,
    Recorded,
    call_key,
)
from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    Permit,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiter,
)
from async_toolformer.streams.redis.result_cache import Flight, ResultCache
from async_toolformer.streams.redis.result_cache_calls import CachedCalls

__all__ = ["LedgerGuard"]

logger = logging.getLogger(__name__)

# Calls whose record was refused, between record_many and guard (normally a loop turn).
_STARTED_REMEMBERED = 10_000


class LedgerGuard:
    """A :class:`~async_toolformer.agents.executor.CallGuard` over the ledger and limits."""

    def __init__(self, ledger: Ledger | None, limiter: RateLimiter | None, *,
                 worker_id: str) -> None:
        self._ledger = ledger
        self._limiter = limiter
        self._worker_id = worker_id
        self._claims = ClaimProtocol(ledger, worker_id) if ledger is not None else None
        # by (call_id, fingerprint): another execution's call_id must not read the flag
        self._started_here: OrderedDict[tuple[str, str], bool] = OrderedDict()
        # calls admitted with their batch (admit_many), by (call_id, claim lease)
        self._permits: dict[tuple[str, int], Permit] = {}
        self._cache: CachedCalls | None = None

    def use_cache(self, cache: ResultCache, tools: Iterable[ToolSpec]) -> None:
        """Answer calls of ``tools`` that declare ``cache_ttl_s`` from ``cache`` (needs the
        ledger: a cached answer is recorded under the asking call's claim)."""
        if self._ledger is not None:
            self._cache = CachedCalls(cache, tools)

    @property
    def eager(self) -> bool:
        """Only without rate limits may every claimed call start at once; with them,
        ``admit_many`` says which may."""
        return self._limiter is None

    async def admit_many(self, calls: Sequence[tuple[ToolCallRequested, ToolSpec, Claimed]]
                         ) -> list[bool]:
        """Admit fresh claims in one rate-limit decision; ``hold`` admits the others."""
        if self._limiter is None:
            return [self.eager] * len(calls)
        started_ns = time.time_ns() if TRACING.on else 0
        permits = await self._limiter.admit_many([_quota(r, spec) for r, spec, _ in calls])
        if started_ns:
            spans_between("rate_limit admit", [CALLS.get(r.call_id) for r, _, _ in calls],
                          started_ns)
        for (request, _, claimed), permit in zip(calls, permits, strict=True):
            if permit is not None:
                self._permits[(request.call_id, claimed.lease)] = permit
        return [permit is not None for permit in permits]

    async def guard(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                    seal: Seal) -> Sealed:
        if self._claims is None:
            return seal(await self._limited(request, spec, run))
        work = _ToolWork(self, request, spec, run, seal)
        return await self._claims.settle(
            call_key(request.call_id), work,
            started_here=self._started_here.pop((request.call_id, work.fingerprint), False))

    async def open_many(self, requests: Sequence[ToolCallRequested]) -> list[Opening]:
        """Claim every call in one round trip; one held by a live worker is left to ``guard``."""
        ledger = self._ledger
        if ledger is None:
            return [None] * len(requests)
        prints = [call_fingerprint(r) for r in requests]
        started_ns = time.time_ns() if TRACING.on else 0
        claiming = retrying(lambda: ledger.claim_many(
            [(call_key(r.call_id), self._worker_id) for r in requests], fingerprints=prints))
        cache = self._cache
        keyed = cache.keys_of(requests) if cache is not None else None
        if cache is not None and keyed:  # the cache beside the claims: no round trip more
            claims, begun = await cache.begin_beside(claiming, keyed)
        else:
            claims, begun = await claiming, {}
        if started_ns:
            spans_between("ledger claim", [CALLS.get(r.call_id) for r in requests], started_ns,
                          {"db.system.name": "redis"})
        openings: list[Opening] = []
        for request, fingerprint, claim in zip(requests, prints, claims, strict=True):
            match claim:
                case Recorded(stored):
                    openings.append(Answered(Sealed.from_wire(stored)))
                case Acquired(token, takeover_from):
                    if (request.call_id, fingerprint) in self._started_here:  # ``hold`` answers
                        takeover_from = self._worker_id
                    openings.append(Claimed(token, takeover_from, fingerprint))
                case HeldElsewhere() | Conflict():  # ``guard`` waits, or answers the conflict
                    openings.append(None)
        if cache is not None and begun:
            return await cache.apply(requests, openings, begun)
        return openings

    async def record_many(self, done: Sequence[tuple[ToolCallRequested, Claimed, Sealed]]
                          ) -> list[bool]:
        """Record each result; a refused one is remembered as started here, for ``guard``."""
        self._give_back([(request, claimed) for request, claimed, _ in done])  # they ended
        ledger = self._ledger
        if ledger is None:
            return [True] * len(done)
        recording = retrying(lambda: ledger.complete_many(
            [(call_key(request.call_id), claimed.lease, sealed.wire)
             for request, claimed, sealed in done],
            fingerprints=[claimed.fingerprint for _, claimed, _ in done]))
        if self._cache is not None and self._cache.flying:  # store outputs beside the records
            kept, _ = await asyncio.gather(recording, self._cache.land(done))
        else:
            kept = await recording
        for (request, claimed, _), recorded in zip(done, kept, strict=True):
            if not recorded:
                self._note_started((request.call_id, claimed.fingerprint))
        return kept

    async def record_answers(self, answers: Sequence[tuple[ToolCallRequested, Sealed]]
                             ) -> list[Sealed]:
        """Claim and record results given without a run (two round trips for them all).

        A result already recorded for the same execution wins and is published
        instead; a call held by a live lease (its owner records and publishes) or
        in conflict (another execution's entry, never touched) keeps its answer,
        unrecorded.
        """
        published = [sealed for _, sealed in answers]
        ledger = self._ledger
        if ledger is None or not answers:
            return published
        prints = [call_fingerprint(request) for request, _ in answers]
        claims = await retrying(lambda: ledger.claim_many(
            [(call_key(request.call_id), self._worker_id) for request, _ in answers],
            fingerprints=prints))
        acquired: list[tuple[int, int]] = []
        for i, claim in enumerate(claims):
            match claim:
                case Recorded(stored):
                    published[i] = Sealed.from_wire(stored)
                case Acquired(token, _):
                    acquired.append((i, token))
                case HeldElsewhere() | Conflict():
                    pass
        if not acquired:
            return published
        kept = await retrying(lambda: ledger.complete_many(
            [(call_key(answers[i][0].call_id), token, published[i].wire) for i, token in acquired],
            fingerprints=[prints[i] for i, _ in acquired]))
        for (i, _), recorded in zip(acquired, kept, strict=True):
            if not recorded:  # taken over within the moment: its owner answers
                logger.warning("could not record the answer of %s; it is published unrecorded",
                               answers[i][0].call_id[:256])
        return published

    async def release_many(self, held: Sequence[tuple[ToolCallRequested, Claimed]]) -> None:
        self._give_back(held)
        if self._ledger is None or not held:
            return
        if self._cache is not None and self._cache.flying:
            await self._cache.land([(request, claimed, None) for request, claimed in held])
        try:
            await self._ledger.release_many([(call_key(r.call_id), c.lease) for r, c in held])
        except LedgerUnavailableError:
            logger.warning("could not release the claims of %d calls; their leases will expire",
                           len(held))

    async def hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                   run: Run, seal: Seal) -> Sealed:
        """Run a claimed call; ``record_many`` records what this returns.

        An eager guard's fresh claims were started by the executor before this
        (``eager``, or admitted by ``admit_many``): their tool counts as started from
        the outset.
        """
        permit = self._permits.pop((request.call_id, claimed.lease), None)
        if permit is None:
            return await self._hold(request, spec, claimed, run, seal, permit=None)
        try:
            return await self._hold(request, spec, claimed, run, seal, permit=permit)
        finally:
            permit.release()

    async def _hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                    run: Run, seal: Seal, *, permit: Permit | None) -> Sealed:
        if self._claims is None:
            return seal(await self._limited(request, spec, run))
        flight = (self._cache.take_flight(request.call_id, claimed.lease)
                  if self._cache is not None else None)
        work = _ToolWork(self, request, spec, run, seal, fingerprint=claimed.fingerprint or None,
                         permit=permit, flight=flight)
        try:
            answer = work.instead(
                claimed.after, self._started_here.pop((request.call_id, work.fingerprint), False))
            if answer is not None:
                return answer
            started = ((self.eager or permit is not None) and claimed.after is None
                       and not claimed.waits)  # a call that waits for an identical one has not
            try:
                return await self._claims.run_leased(call_key(request.call_id), claimed.lease,
                                                     work, started=started)
            except LeaseLostError as lost:
                # Not recordable under this claim: record_many is refused and guard answers.
                return work.indeterminate("its lease was lost while it ran" if lost.started
                                          else "its lease was lost before it ran")
        finally:
            work.end_unused_flight()  # answered otherwise, or lost before it ran

    def _note_started(self, call_id: tuple[str, str]) -> None:
        self._started_here[call_id] = True
        while len(self._started_here) > _STARTED_REMEMBERED:
            self._started_here.popitem(last=False)

    def _give_back(self, held: Sequence[tuple[ToolCallRequested, Claimed]]) -> None:
        """Release the admissions of calls that ended without ``hold`` (or after it)."""
        if self._permits:
            for request, claimed in held:
                permit = self._permits.pop((request.call_id, claimed.lease), None)
                if permit is not None:
                    permit.release()

    async def _limited(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                       permit: Permit | None = None) -> CallOutcome:
        if self._limiter is None:
            return await run()
        if permit is not None:  # admitted with its batch: its limits are already taken
            try:
                return await run()
            finally:
                permit.release()
        try:
            waiting_ns = time.time_ns() if TRACING.on else 0
            async with self._limiter.admit(_quota(request, spec)):
                if waiting_ns:
                    spans_between("rate_limit wait", [CALLS.get(request.call_id)], waiting_ns)
                return await run()
        except RateLimitedError as exc:
            outcome = CallOutcome.failed(CallStatus.RATE_LIMITED, "RateLimited", str(exc),
                                         retryable=True)
            outcome.retry_after_ms = exc.retry_after_ms
            return outcome
        except QuotaTooLargeError as exc:  # no wait will ever admit it
            return CallOutcome.failed(CallStatus.REJECTED, "QuotaTooLarge", str(exc))


def _quota(request: ToolCallRequested, spec: ToolSpec) -> CallQuota:
    return CallQuota(tool=spec.name, service=spec.service, tenant=request.tenant,
                     cost=spec.cost_of(request.arguments))


class _ToolWork:
    """One tool call as :class:`~async_toolformer.streams.redis.claim.Work`."""

    side_effects = True

    def __init__(self, guard: LedgerGuard, request: ToolCallRequested, spec: ToolSpec,
                 run: Run, seal: Seal, *, fingerprint: str | None = None,
                 permit: Permit | None = None, flight: Flight | None = None) -> None:
        self._guard = guard
        self._flight = flight  # won by ``open_many``: this run fills the cache
        self._permit = permit
        self._request = request
        self._spec = spec
        self._run = run
        self._seal = seal
        self.fingerprint = fingerprint or call_fingerprint(request)

    def answer(self, stored: bytes) -> Sealed:
        return Sealed.from_wire(stored)  # published again as the very bytes recorded

    def conflict(self) -> Sealed:
        return self._seal(conflict_outcome(self._request))  # the requester's own session

    def instead(self, takeover_from: str | None, started_here: bool) -> Sealed | None:
        name = self._spec.name
        if started_here:
            return self.indeterminate(
                "this worker started it and then lost its claim (its ledger entry was gone "
                "or taken over) before recording a result")
        if takeover_from is not None and not self._spec.idempotent:
            return self.indeterminate(
                f"worker {takeover_from} claimed this call and its lease expired without a "
                f"result; {name} is not idempotent, so it was not run again")
        return None

    async def run(self, stint: Stint) -> Sealed:
        run = self._run

        async def tool() -> Sealed:
            return self._seal(await self._guard._limited(self._request, self._spec,
                                                         lambda: stint.enter(run), self._permit))

        cache = self._guard._cache
        if cache is None:
            return await tool()
        flight, self._flight = self._flight, None  # ``cache.run`` ends it, however it ends
        return await cache.run(self._request, flight, self._seal, tool)

    def end_unused_flight(self) -> None:
        """End the flight ``open_many`` won for this call if it never ran (no leak)."""
        cache = self._guard._cache
        if self._flight is not None and cache is not None:
            cache.end_soon(self._flight)
            self._flight = None

    def record_of(self, result: Sealed) -> bytes:
        return result.wire

    def indeterminate(self, why: str) -> Sealed:
        return self._seal(CallOutcome.failed(
            CallStatus.INDETERMINATE, "Indeterminate",
            f"{self._spec.name}: {why}. Its side effect may or may not have happened: check "
            "it before retrying with a new call_id."))
