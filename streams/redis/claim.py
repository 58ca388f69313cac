"""One claim protocol for all work the execution ledger guards: tool calls and model turns.

Work runs under a claim on its ledger key. The steps, and the rules for a stop,
a lost ledger and an expired lease, are the same for both kinds; where they
differ it is because a tool has side effects and a model turn has none
(``Work.side_effects``):

1. Claim. A Redis that does not answer is retried with backoff: without end for
   a tool call (no call starts without its claim), for ``patience_s`` for a
   turn, after which :class:`LedgerUnavailableError` is raised (the turn guard
   ends the turn as failed).
2. ``Recorded``: answer from the record. ``HeldElsewhere``: wait for the record
   or for the lease to end, then claim again. ``Conflict``: the key belongs to
   another execution (``Work.fingerprint`` differs): answer ``Work.conflict()``,
   unrecorded, and leave the entry alone.
3. ``Acquired``: the work may answer without running (``Work.instead``): a tool
   taken over from an expired lease is answered ``indeterminate`` unless it is
   idempotent, and a tool this worker already started is never started again.
4. Run, keeping the lease (:class:`LeaseKeeper`). The work says the moment its
   tool starts (:meth:`Stint.enter`): from then on the claim is the only trace
   that the side effect may have happened.
5. Record under the fencing token. A refused record (the key is gone: Redis
   restarted without persistence, failed over, evicted it; or another owner
   holds it) sends work with side effects back to step 1 as *started here*: it
   is answered from the new owner's record, or ``indeterminate``, never run
   again. A turn keeps what it produced (its events are already in the session).

Stop: a claim whose tool never started is released, so the next owner starts
clean; a claim whose tool started is kept until its lease expires, so the next
owner answers ``indeterminate`` for a non-idempotent tool or re-runs an
idempotent one. A turn is always released (calling the model again costs, but
does no harm). A failed release is logged, never raised over the error or
cancellation that caused it.

Lease lost while the work runs (a renewal refused): a running tool is cancelled
and the call goes back to step 1 as started here; a tool not yet started is not
started. A turn runs on. A Redis outage alone does not lose a lease: renewal
resumes when Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from async_toolformer.streams.redis.ledger import (
    Acquired,
    Conflict,
    HeldElsewhere,
    LeaseKeeper,
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    Recorded,
)

__all__ = ["ClaimProtocol", "LeaseLostError", "Stint", "Work", "retrying"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_MAX_WAIT_S = 1.0  # poll a claim held elsewhere at least this often
_MAX_BACKOFF_S = 2.0


class LeaseLostError(LedgerError):
    """The claim's lease was found lost while its work ran; ``started``: its tool had."""

    def __init__(self, *, started: bool) -> None:
        super().__init__("the lease was lost")
        self.started = started


class Stint:
    """One run of some work under one lease: whether its tool started, whether it is cut.

    ``enter`` wraps the moment the tool starts. If the lease is found lost before
    that, the tool is not started; while it runs, it is cancelled (for work with
    side effects); either way ``enter`` raises :class:`LeaseLostError`.
    """

    __slots__ = ("_cut", "_running", "_task", "cut_on_loss", "lost", "started")

    def __init__(self, *, started: bool, cut_on_loss: bool) -> None:
        self.started = started
        self.cut_on_loss = cut_on_loss
        self.lost = False
        self._running = False
        self._cut = False
        self._task: asyncio.Task[object] | None = None

    async def enter(self, run: Callable[[], Awaitable[T]]) -> T:
        """Start the tool (``run()``) unless the lease is already lost."""
        if self.lost and self.cut_on_loss:
            raise LeaseLostError(started=self.started)
        self.started = True
        self._task = asyncio.current_task()
        self._running = True
        try:
            result = await run()
        except asyncio.CancelledError:
            if self._uncut():
                raise LeaseLostError(started=True) from None
            raise
        finally:
            self._running = False
        if self._cut:  # the tool turned our cancellation into a result
            if self._uncut():
                raise LeaseLostError(started=True)
            raise asyncio.CancelledError  # someone else cancelled too; theirs stands
        return result

    def lose(self) -> None:
        """The keeper's ``on_lost``: cut a running tool short."""
        self.lost = True
        if self.cut_on_loss and self._running and self._task is not None and not self._cut:
            self._cut = True
            self._task.cancel()

    def _uncut(self) -> bool:
        """Withdraw our own cancellation; True if no other is pending."""
        if not self._cut or self._task is None:
            return False
        self._cut = False
        return self._task.uncancel() == 0


class Work(Protocol[R]):
    """What the protocol runs: a tool call or a model turn, answered as ``R``."""

    @property
    def side_effects(self) -> bool:
        """True for a tool (never run twice by our doing), False for a model turn."""
        ...

    @property
    def fingerprint(self) -> str:
        """Who asked for what (hex): the ledger answers another execution's key ``Conflict``."""
        ...

    def conflict(self) -> R:
        """The answer when the key belongs to another execution (not recorded)."""
        ...

    def answer(self, stored: bytes) -> R:
        """The answer from a recorded result."""
        ...

    def instead(self, takeover_from: str | None, started_here: bool) -> R | None:
        """An answer without running (recorded as the result), or None to run."""
        ...

    async def run(self, stint: Stint) -> R:
        """Run; start the tool itself through ``stint.enter``."""
        ...

    def record_of(self, result: R) -> bytes | None:
        """What to record for ``result``; None: nothing worth keeping, release the claim."""
        ...


class ClaimProtocol:
    """Claims, runs and records work on ``ledger`` for worker ``owner``.

    ``patience_s``: how long a claim or a record waits for an unreachable Redis
    (None: without end).
    """

    def __init__(self, ledger: Ledger, owner: str, *, patience_s: float | None = None) -> None:
        self.ledger = ledger
        self.owner = owner
        self.patience_s = patience_s

    async def settle(self, key: str, work: Work[R], *, started_here: bool = False) -> R:
        """Steps 1 to 5 until ``key`` has an answer."""
        while True:
            claim = await retrying(
                lambda: self.ledger.claim(key, self.owner, fingerprint=work.fingerprint),
                patience_s=self.patience_s)
            match claim:
                case Recorded(stored):
                    return work.answer(stored)
                case Conflict():
                    logger.warning("%s belongs to another execution; answering with a conflict",
                                   key)
                    return work.conflict()
                case HeldElsewhere(owner, expires_in_ms):
                    logger.info("%s is held by %s; waiting up to %d ms", key, owner,
                                expires_in_ms)
                    await asyncio.sleep(min(_MAX_WAIT_S, max(0.01, expires_in_ms / 1000)))
                case Acquired(token, takeover_from):
                    answer = work.instead(takeover_from, started_here)
                    if answer is None:
                        try:
                            answer = await self.run_leased(key, token, work)
                        except LeaseLostError as lost:
                            logger.warning("lost the lease of %s while it ran; answering "
                                           "with what the ledger holds", key)
                            started_here = started_here or lost.started
                            continue
                        started_here = True
                    if await self.keep(key, token, work, answer):
                        return answer

    async def run_leased(self, key: str, token: int, work: Work[R], *,
                         started: bool = False) -> R:
        """Run ``work`` while keeping the lease of ``token``; ``started``: its tool already is.

        Raises :class:`LeaseLostError` if the lease is found lost (work with side
        effects only). On any other way out, the claim is released if that is
        safe (see the module's rules), else left to expire.
        """
        stint = Stint(started=started, cut_on_loss=work.side_effects)
        try:
            async with LeaseKeeper(self.ledger, key, token, on_lost=stint.lose):
                return await work.run(stint)
        except LeaseLostError:
            raise
        except BaseException:
            if not stint.started or not work.side_effects:
                await asyncio.shield(self.release(key, token))
            else:
                logger.warning("%s stopped after its tool started: its claim is kept until "
                               "the lease expires, so it is not run again as a fresh call", key)
            raise

    async def keep(self, key: str, token: int, work: Work[R], answer: R) -> bool:
        """Record ``answer`` (or release the claim); False if the claim was lost meanwhile."""
        record = work.record_of(answer)
        if record is None:
            await self.release(key, token)
            return True
        try:
            if await retrying(lambda: self.ledger.complete(key, token, record,
                                                           fingerprint=work.fingerprint),
                              patience_s=self.patience_s):
                return True
        except LedgerUnavailableError as exc:
            if work.side_effects:
                raise
            logger.warning("could not record %s (%s); its lease will expire", key, exc)
            return True
        if work.side_effects:
            return False
        logger.warning("lost the lease of %s before recording it; its result stands", key)
        return True

    async def release(self, key: str, token: int) -> None:
        """Hand the claim back; a failure is logged (the lease then expires), never raised."""
        try:
            await self.ledger.release(key, token)
        except Exception as exc:
            logger.warning("could not release the claim of %s (%s); its lease will expire",
                           key, exc)


async def retrying(operation: Callable[[], Awaitable[T]], *,
                   patience_s: float | None = None) -> T:
    """Run a ledger operation until Redis answers, or for ``patience_s`` (then re-raise)."""
    loop = asyncio.get_running_loop()
    give_up_at = None if patience_s is None else loop.time() + patience_s
    delay = 0.05
    while True:
        try:
            return await operation()
        except LedgerUnavailableError as exc:
            if give_up_at is not None and loop.time() + delay > give_up_at:
                raise
            logger.warning("%s; retrying in %.2fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
