"""The seam between the executor and what stands around each run (ledger, rate limits).

A guard is asked one call at a time (:meth:`CallGuard.guard`) or, for the calls
of one fetch, all at once: :meth:`CallGuard.open_many` claims them in one round
trip and :meth:`CallGuard.record_many` records the ones that finished at once
in another. A round trip per batch instead of two awaits per call is what lets
a worker keep up with its broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from async_toolformer.schemas import ToolCallCompleted, ToolCallRequested, encode

from ..tools import ToolSpec
from .outcome import CallOutcome


@dataclass(frozen=True, slots=True)
class Sealed:
    """A terminal result and its wire bytes, encoded once for both the ledger and the topic."""

    event: ToolCallCompleted
    wire: bytes

    @classmethod
    def of(cls, event: ToolCallCompleted) -> Sealed:
        return cls(event, encode(event))


@dataclass(frozen=True, slots=True)
class Claimed:
    """This worker may run the call; ``lease`` records it (a fencing token, say).

    ``after`` names the worker whose claim expired without a result, if any: the
    guard then decides whether the call may run again (:meth:`CallGuard.hold`).
    """

    lease: int
    after: str | None = None


@dataclass(frozen=True, slots=True)
class Answered:
    """The call needs no run: here is its terminal result (one recorded earlier, say)."""

    sealed: Sealed


# ``None``: no decision for the batch; the call goes through ``guard`` on its own.
Opening = Claimed | Answered | None

ResultSink = Callable[[Sealed], Awaitable[None]]
BatchSink = Callable[[Sequence[Sealed]], Awaitable[None]]
Run = Callable[[], Awaitable[CallOutcome]]
Seal = Callable[[CallOutcome], Sealed]


class CallGuard(Protocol):
    """Stands around the run of one call: rate limits, the execution ledger.

    It may answer without running (a result already recorded, a limit that
    rejects); otherwise it calls ``run`` and turns the outcome into the terminal
    event with ``seal``, which it may record before returning it.
    """

    @property
    def eager(self) -> bool:
        """Whether a call claimed by ``open_many`` may start at once; a guard that
        must first admit each call (rate limits) says no, and ``hold`` admits it."""
        ...

    async def guard(self, request: ToolCallRequested, spec: ToolSpec, run: Run,
                    seal: Seal) -> Sealed: ...

    async def open_many(self, requests: Sequence[ToolCallRequested]) -> list[Opening]: ...

    async def record_many(self, done: Sequence[tuple[ToolCallRequested, Claimed, Sealed]]
                          ) -> list[bool]:
        """Record each result under its claim; False where the claim was lost meanwhile."""
        ...

    async def release_many(self, held: Sequence[tuple[ToolCallRequested, Claimed]]) -> None:
        """Hand back claims of calls that will not run here (cancelled before they started,
        say): the next claim is then a clean start, not a takeover."""
        ...

    async def hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                   run: Run, seal: Seal) -> Sealed:
        """Run a call claimed by ``open_many`` while keeping its claim; ``record_many`` follows.

        A claim taken over from another worker may be answered without running.
        """
        ...
