"""The seam between the executor and what stands around each run (ledger, rate limits).

A guard is asked one call at a time (:meth:`CallGuard.guard`) or, for the calls
of one fetch, all at once: :meth:`CallGuard.open_many` claims them in one round
trip and :meth:`CallGuard.record_many` records the ones that finished at once
in another. A round trip per batch instead of two awaits per call is what lets
a worker keep up with its broker. A guard that is also an :class:`AnswerRecording`
records the results given without a run of their own (refusals at intake,
cancellations before a claim, errors of the worker), so that a session, which
takes only what the ledger holds, is answered by them too.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic_core import PydanticSerializationError

from async_toolformer.schemas import (
    CallStatus,
    ToolCallCompleted,
    ToolCallRequested,
    decode_as,
    encode,
)

from ..tools import ToolSpec
from .limits import CallLimits, shape_problem
from .outcome import CallOutcome, completed_event, completed_wire


@dataclass(slots=True)
class Sealed:
    """A terminal result as its wire bytes, encoded once for both the ledger and the topic.

    The model itself is built only when ``event`` is read: publishing, recording
    and counting a result need just the bytes and the few fields beside them.
    """

    wire: bytes
    session_id: str
    tool: str
    status: CallStatus
    seconds: float  # from receipt by the worker to the end, for the latency metric
    # The model, or how to build it; two results with the same bytes are equal either way.
    _event: ToolCallCompleted | Callable[[], ToolCallCompleted] = field(repr=False,
                                                                         compare=False)
    call_id: str = field(default="", compare=False)  # to find the call's trace span

    @classmethod
    def of(cls, event: ToolCallCompleted) -> Sealed:
        return cls._around(event, encode(event))

    @classmethod
    def from_wire(cls, wire: bytes) -> Sealed:
        """A result as recorded: its bytes are kept as they are, not written again."""
        return cls._around(decode_as(ToolCallCompleted, wire), wire)

    @classmethod
    def of_outcome(cls, request: ToolCallRequested, outcome: CallOutcome, *, worker_id: str,
                   received_at: datetime, limits: CallLimits | None = None) -> Sealed:
        """The result of ``request``, written straight to bytes; the model waits to be asked for.

        Output that passed the runner's check and still cannot be written (a str
        with a lone surrogate, say) makes the result an error instead; so does,
        under ``limits``, output nested deeper than ``max_depth`` (OutputTooDeep)
        and a result over ``max_result_bytes`` (OutputTooLarge), which the
        results topic could never take.
        """
        if (limits is not None and outcome.output is not None
                and shape_problem(outcome.output, max_depth=limits.max_depth) is not None):
            outcome = CallOutcome.too_deep(request.tool, attempts=outcome.attempts,
                                           started_at=outcome.started_at,
                                           max_depth=limits.max_depth)
        try:
            wire = completed_wire(request, outcome, worker_id=worker_id, received_at=received_at)
        except PydanticSerializationError as exc:
            outcome = CallOutcome.unserialisable(request.tool, outcome.output, exc,
                                                 attempts=outcome.attempts,
                                                 started_at=outcome.started_at)
            wire = completed_wire(request, outcome, worker_id=worker_id, received_at=received_at)
        except (ValueError, RecursionError):  # nested too deep for the serialisers
            outcome = CallOutcome.too_deep(request.tool, attempts=outcome.attempts,
                                           started_at=outcome.started_at)
            wire = completed_wire(request, outcome, worker_id=worker_id, received_at=received_at)
        if limits is not None and len(wire) > limits.max_result_bytes:
            outcome = CallOutcome.too_large(request.tool, len(wire), limits.max_result_bytes,
                                            attempts=outcome.attempts,
                                            started_at=outcome.started_at)
            wire = completed_wire(request, outcome, worker_id=worker_id, received_at=received_at)
        build = functools.partial(completed_event, request, outcome, worker_id=worker_id,
                                  received_at=received_at)
        seconds = (outcome.finished_at - received_at).total_seconds()
        return cls(wire, request.session_id, request.tool, outcome.status, seconds, build,
                   request.call_id)

    @classmethod
    def _around(cls, event: ToolCallCompleted, wire: bytes) -> Sealed:
        timings = event.timings
        seconds = (timings.finished_at - timings.received_at).total_seconds()
        return cls(wire, event.session_id, event.tool, event.status, seconds, event,
                   event.call_id)

    @property
    def event(self) -> ToolCallCompleted:
        if not isinstance(self._event, ToolCallCompleted):
            self._event = self._event()
        return self._event


@dataclass(frozen=True, slots=True)
class Claimed:
    """This worker may run the call; ``lease`` records it (a fencing token, say).

    ``after`` names the worker whose claim expired without a result, if any: the
    guard then decides whether the call may run again (:meth:`CallGuard.hold`).
    """

    lease: int
    after: str | None = None
    fingerprint: str = ""  # the execution it was claimed for, to record with its result
    waits: bool = False  # must not start before ``hold`` (it joins an identical call's run)


@dataclass(frozen=True, slots=True)
class Answered:
    """The call needs no run: here is its terminal result (one recorded earlier, say)."""

    sealed: Sealed


@dataclass(frozen=True, slots=True)
class Reused:
    """A claimed call answered without a run (a fresh cached result of an identical call):
    the executor seals ``outcome`` for this very call and records it under ``claimed``."""

    claimed: Claimed
    outcome: CallOutcome


# ``None``: no decision for the batch; the call goes through ``guard`` on its own.
Opening = Claimed | Answered | Reused | None

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


@runtime_checkable
class BulkAdmission(Protocol):
    """A guard that admits the claimed calls of a batch at once (rate limits, say).

    An admitted call starts at once, as under an ``eager`` guard, and ``hold``
    runs its rest without admitting it again; the others wait for admission in
    ``hold``. Whatever ends an admitted call (``hold``, ``record_many``,
    ``release_many``) gives its admission back.
    """

    async def admit_many(self, calls: Sequence[tuple[ToolCallRequested, ToolSpec, Claimed]]
                         ) -> list[bool]:
        """Whether each freshly claimed call may start now."""
        ...


@runtime_checkable
class AnswerRecording(Protocol):
    """A guard that records results given without a claim of their own (a refusal at intake,
    a cancellation before the claim, an error of the worker) before they are published."""

    async def record_answers(self, answers: Sequence[tuple[ToolCallRequested, Sealed]]
                             ) -> list[Sealed]:
        """Claim and record each answer under its request's fingerprint, in bulk; return
        what to publish for each: the result already recorded for the same execution if
        there is one, else the answer given (recorded, or left unrecorded when the call
        is held by a live lease or belongs to another execution)."""
        ...
