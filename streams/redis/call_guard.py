"""What stands around each tool run: the execution ledger and the rate limits.

Order matters. The ledger claim comes first, so a call that another worker is
running, or has answered, is never queued on a rate limit or run again; the
lease is kept alive while the call waits for its limits and runs; the sealed
result is recorded under the claim's fencing token before it is published, so
a redelivery after a crash is answered from the record.

The decisions per claim (docs/semantics.md):

- ``Recorded``: publish the recorded result again, byte for byte the same event.
- ``HeldElsewhere``: a live worker runs it; wait for its record or its lease to end.
- ``Acquired`` after an expired lease: run again only an idempotent tool, else
  answer ``indeterminate`` (its side effect may or may not have happened).

The executor asks for a fetch's calls at once (``open_many``, ``record_many``:
one round trip each for the whole batch), with the same decisions; a call held
elsewhere is left to ``guard``, which waits for it on its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from async_toolformer.agents.executor import (
    Answered,
    CallOutcome,
    Claimed,
    Opening,
    Run,
    Seal,
    Sealed,
)
from async_toolformer.agents.tools import ToolSpec
from async_toolformer.schemas import (
    CallStatus,
    ToolCallRequested,
)
from async_toolformer.streams.redis.ledger import (
    Acquired,
    HeldElsewhere,
    LeaseKeeper,
    Ledger,
    LedgerUnavailableError,
    Recorded,
)
from async_toolformer.streams.redis.ratelimit import (
    CallQuota,
    QuotaTooLargeError,
    RateLimitedError,
    RateLimiter,
)

logger = logging.getLogger(__name__)

_MAX_WAIT_S = 1.0
T = TypeVar("T")


class LedgerGuard:
    """A :class:`~async_toolformer.agents.executor.CallGuard` over the ledger and limits."""

    def __init__(self, ledger: Ledger | None, limiter: RateLimiter | None, *,
                 worker_id: str) -> None:
        self._ledger = ledger
        self._limiter = limiter
        self._worker_id = worker_id

    @property
    def eager(self) -> bool:
        """Rate limits admit call by call (in ``hold``), so only without them may a
        claimed call start at once."""
        return self._limiter is None

    async def guard(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                    seal: Seal) -> Sealed:
        ledger = self._ledger
        if ledger is None:
            return seal(await self._limited(request, spec, run))
        while True:
            claim = await _retrying(lambda: ledger.claim(request.call_id, self._worker_id))
            match claim:
                case Recorded(stored):  # published again as the very bytes recorded
                    return Sealed.from_wire(stored)
                case HeldElsewhere(owner, expires_in_ms):
                    logger.info("call %s is held by %s; waiting up to %d ms",
                                request.call_id, owner, expires_in_ms)
                    await asyncio.sleep(min(_MAX_WAIT_S, max(0.01, expires_in_ms / 1000)))
                case Acquired(token, takeover_from):
                    sealed = await self._run_recorded(ledger, request, spec, run=run, seal=seal,
                                                      claimed=Claimed(token, takeover_from))
                    if sealed is not None:
                        return sealed

    async def open_many(self, requests: Sequence[ToolCallRequested]) -> list[Opening]:
        """Claim every call in one round trip; one held by a live worker is left to ``guard``."""
        ledger = self._ledger
        if ledger is None:
            return [None] * len(requests)
        claims = await _retrying(
            lambda: ledger.claim_many([(r.call_id, self._worker_id) for r in requests]))
        openings: list[Opening] = []
        for claim in claims:
            match claim:
                case Recorded(stored):
                    openings.append(Answered(Sealed.from_wire(stored)))
                case Acquired(token, takeover_from):
                    openings.append(Claimed(token, takeover_from))
                case HeldElsewhere():
                    openings.append(None)
        return openings

    async def record_many(self, done: Sequence[tuple[ToolCallRequested, Claimed, Sealed]]
                          ) -> list[bool]:
        ledger = self._ledger
        if ledger is None:
            return [True] * len(done)
        return await _retrying(lambda: ledger.complete_many(
            [(request.call_id, claimed.lease, sealed.wire) for request, claimed, sealed in done]))

    async def release_many(self, held: Sequence[tuple[ToolCallRequested, Claimed]]) -> None:
        if self._ledger is None or not held:
            return
        try:
            await self._ledger.release_many([(r.call_id, c.lease) for r, c in held])
        except LedgerUnavailableError:
            logger.warning("could not release the claims of %d calls; their leases will expire",
                           len(held))

    async def hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                   run: Run, seal: Seal) -> Sealed:
        ledger = self._ledger
        if ledger is None:
            return seal(await self._limited(request, spec, run))
        return await self._run_claimed(ledger, request, spec, run=run, seal=seal,
                                       token=claimed.lease, takeover_from=claimed.after)

    async def _run_recorded(self, ledger: Ledger, request: ToolCallRequested, spec: ToolSpec,
                            *, run: Run, seal: Seal, claimed: Claimed) -> Sealed | None:
        """Run under ``claimed`` and record the result; None if the lease was lost meanwhile."""
        sealed = await self._run_claimed(ledger, request, spec, run=run, seal=seal,
                                         token=claimed.lease, takeover_from=claimed.after)
        record = functools.partial(ledger.complete, request.call_id, claimed.lease, sealed.wire)
        if await _retrying(record):
            return sealed
        logger.warning("lost the lease of call %s while it ran; answering with what the "
                       "ledger holds", request.call_id)
        return None

    async def _run_claimed(self, ledger: Ledger, request: ToolCallRequested, spec: ToolSpec, *,
                           run: Run, seal: Seal, token: int, takeover_from: str | None
                           ) -> Sealed:
        if takeover_from is not None and not spec.idempotent:
            return seal(CallOutcome.failed(
                CallStatus.INDETERMINATE, "Indeterminate",
                f"worker {takeover_from} claimed this call and its lease expired without a "
                f"result; {spec.name} is not idempotent, so it was not run again. Check its "
                "side effect before retrying with a new call_id."))
        try:
            async with LeaseKeeper(ledger, request.call_id, token):
                limited = run() if self._limiter is None else self._limited(request, spec, run)
                return seal(await limited)
        except asyncio.CancelledError:
            # Cancelled before or while running: hand the claim back so a redelivery
            # is not mistaken for a crash in the middle of the tool.
            await asyncio.shield(_release(ledger, request.call_id, token))
            raise

    async def _limited(self, request: ToolCallRequested, spec: ToolSpec, run: Run
                       ) -> CallOutcome:
        if self._limiter is None:
            return await run()
        quota = CallQuota(tool=spec.name, service=spec.service, tenant=request.tenant,
                          cost=spec.cost_of(request.arguments))
        try:
            async with self._limiter.admit(quota):
                return await run()
        except RateLimitedError as exc:
            outcome = CallOutcome.failed(CallStatus.RATE_LIMITED, "RateLimited", str(exc),
                                         retryable=True)
            outcome.retry_after_ms = exc.retry_after_ms
            return outcome
        except QuotaTooLargeError as exc:  # no wait will ever admit it
            return CallOutcome.failed(CallStatus.REJECTED, "QuotaTooLarge", str(exc))


async def _release(ledger: Ledger, call_id: str, token: int) -> None:
    try:
        await ledger.release(call_id, token)
    except LedgerUnavailableError:
        logger.warning("could not release the claim of %s; its lease will expire", call_id)



async def _retrying(operation: Callable[[], Awaitable[T]]) -> T:
    """Run a ledger operation until Redis answers: no call starts without its claim."""
    delay = 0.05
    while True:
        try:
            return await operation()
        except LedgerUnavailableError as exc:
            logger.warning("%s; retrying in %.2fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
