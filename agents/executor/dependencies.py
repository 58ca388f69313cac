"""Dependent calls: wait for a call's inputs, then put their values into its arguments.

A call with ``depends_on`` waits here for each input's result before it takes
anything (its claim, a place under its tool's cap, a rate-limit admission: a
waiting call holding the only place its own input needs would wait for good);
then it is claimed like any other, so a redelivery is answered from the ledger.
The executor posts the results of its own calls to an :class:`InputBoard` as it
publishes them, and an input recorded before this worker saw the call (or by
another worker, before a rebalance) is read through the :class:`RecordedInputs`
port (the execution ledger). Inputs are calls of the same session, so they share
its partition and, normally, this worker; a record of another session is never
taken as an input. Without a ledger the board itself remembers the last
:data:`REMEMBERED` results of every session, so an input that ended before its
dependent arrived is still found.

Every way this can go wrong ends the call, never stalls it (docs/plans.md):

- an input that ended other than ``ok``: ``cancelled``, type ``input_failed``, naming it;
- no result of an input within the call's timeout: ``error``, type ``input_missing``;
- calls waiting for each other on this worker: ``rejected``, type ``dependency_cycle``;
- a path that leads nowhere in an input's output: ``error``, type ``invalid_reference``;
- arguments that do not fit the tool once resolved: ``rejected``, type ``invalid_arguments``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested

from ..exceptions import InvalidArgumentsError
from ..plans import DependencyCycleError, PathNotFoundError, substitute
from ..plans.graph import refuse_cycle
from ..tools import ToolSpec
from .limits import CallLimits, shape_problem
from .outcome import CallOutcome

__all__ = ["InputBoard", "RecordedInputs", "prepare_arguments"]

logger = logging.getLogger(__name__)

_POLL_S = 1.0  # how often a waiting call looks in the ledger for inputs recorded elsewhere
REMEMBERED = 2_048  # results kept in memory when there is no ledger to read them from


class RecordedInputs(Protocol):
    """Reads the recorded results of calls (the execution ledger), None for one not recorded."""

    async def recorded(self, call_ids: Sequence[str]) -> list[ToolCallCompleted | None]: ...


class InputBoard:
    """Results dependent calls wait for, and who waits for what (to find cycles)."""

    def __init__(self, recorded: RecordedInputs | None = None, *,
                 poll_s: float = _POLL_S) -> None:
        self._recorded = recorded
        self._poll_s = poll_s
        self._waiters: dict[str, list[asyncio.Future[ToolCallCompleted]]] = {}
        self._sessions: dict[str, int] = {}  # session_id -> calls waiting in it
        self._inputs_of: dict[str, tuple[str, ...]] = {}  # waiting call -> its inputs
        self._remembered: OrderedDict[str, ToolCallCompleted] | None = (
            OrderedDict() if recorded is None else None)  # no ledger: recent results

    def wants(self, session_id: str) -> bool:
        """Whether a call of ``session_id`` waits for inputs (or, without a ledger, whether
        results are remembered): a dict lookup on the hot path."""
        return self._remembered is not None or session_id in self._sessions

    def post(self, result: ToolCallCompleted) -> None:
        """A result this executor publishes; wakes the calls waiting for it."""
        if self._remembered is not None:
            self._remembered[result.call_id] = result
            self._remembered.move_to_end(result.call_id)
            if len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)
        for waiter in self._waiters.pop(result.call_id, ()):
            if not waiter.done():
                waiter.set_result(result)

    @property
    def waiting(self) -> int:
        return len(self._inputs_of)

    async def wait(self, request: ToolCallRequested, timeout_s: float
                   ) -> dict[str, ToolCallCompleted]:
        """The result of each input of ``request``, waiting at most ``timeout_s``.

        Raises DependencyCycleError if its inputs wait (through other waiting
        calls) for it, TimeoutError naming the inputs still missing.
        """
        call_id, session_id = request.call_id, request.session_id
        inputs = tuple(dict.fromkeys(request.depends_on))
        self._inputs_of[call_id] = inputs
        try:
            refuse_cycle(call_id, self._inputs_of_waiting)
        except DependencyCycleError:
            del self._inputs_of[call_id]
            raise
        loop = asyncio.get_running_loop()
        futures = {c: loop.create_future() for c in inputs}
        for input_id, future in futures.items():
            self._waiters.setdefault(input_id, []).append(future)
        self._sessions[session_id] = self._sessions.get(session_id, 0) + 1
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                await self._look_up(futures, session_id)
                pending = [f for f in futures.values() if not f.done()]
                left = deadline - time.monotonic()
                if not pending:
                    return {c: f.result() for c, f in futures.items()}
                if left <= 0:
                    raise TimeoutError(", ".join(c for c, f in futures.items() if not f.done()))
                await asyncio.wait(pending, timeout=min(left, self._poll_s))
        finally:
            self._forget(call_id, session_id, futures)

    def _inputs_of_waiting(self, call_id: str) -> Iterable[str]:
        return self._inputs_of.get(call_id, ())

    async def _look_up(self, futures: dict[str, asyncio.Future[ToolCallCompleted]],
                       session_id: str) -> None:
        if self._remembered is not None:
            for input_id, future in futures.items():
                result = self._remembered.get(input_id)
                if result is not None and result.session_id == session_id and not future.done():
                    future.set_result(result)
        if self._recorded is None:
            return
        asked = [c for c, f in futures.items() if not f.done()]
        if not asked:
            return
        try:
            found = await self._recorded.recorded(asked)
        except Exception:  # the ledger's Redis is away: wait for the results posted here
            logger.warning("reading %d inputs from the ledger failed; waiting on", len(asked),
                           exc_info=True)
            return
        for input_id, result in zip(asked, found, strict=True):
            future = futures[input_id]
            if (result is not None and result.session_id == session_id
                    and not future.done()):  # never another session's record
                future.set_result(result)

    def _forget(self, call_id: str, session_id: str,
                futures: dict[str, asyncio.Future[ToolCallCompleted]]) -> None:
        self._inputs_of.pop(call_id, None)
        for input_id, future in futures.items():
            waiters = self._waiters.get(input_id)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
                if not waiters:
                    del self._waiters[input_id]
            future.cancel()
        count = self._sessions.get(session_id, 0) - 1
        if count > 0:
            self._sessions[session_id] = count
        else:
            self._sessions.pop(session_id, None)


async def prepare_arguments(board: InputBoard, request: ToolCallRequested, spec: ToolSpec,
                            arguments: dict[str, Any], *, timeout_s: float,
                            limits: CallLimits) -> dict[str, Any] | CallOutcome:
    """``request``'s validated arguments once its inputs are in, or the outcome it ends in."""
    started = time.monotonic()
    try:
        inputs = await board.wait(request, timeout_s)
    except DependencyCycleError as exc:
        return CallOutcome.failed(CallStatus.REJECTED, "dependency_cycle", str(exc))
    except TimeoutError as exc:
        missing = str(exc) or ", ".join(request.depends_on)
        return CallOutcome.failed(
            CallStatus.ERROR, "input_missing",
            f"no result of {missing} within {timeout_s:g}s (the call's timeout); an input "
            "must be a call of the same session")
    for input_id in request.depends_on:
        result = inputs[input_id]
        if result.status is not CallStatus.OK:
            why = f": {result.error.type}: {result.error.message}" if result.error else ""
            return CallOutcome.failed(
                CallStatus.CANCELLED, "input_failed",
                f"input {input_id} ended {result.status.value}{why}"[:2_000])
    try:
        resolved = substitute(arguments, {c: r.output for c, r in inputs.items()})
    except PathNotFoundError as exc:
        return CallOutcome.failed(CallStatus.ERROR, "invalid_reference", str(exc))
    problem = shape_problem(resolved, max_depth=limits.max_depth,
                            max_items=limits.max_argument_items)
    if problem is not None:
        return CallOutcome.failed(CallStatus.REJECTED, "invalid_arguments",
                                  f"{spec.name}: arguments once resolved: {problem}")
    try:
        validated = spec.validate(resolved)
    except InvalidArgumentsError as exc:
        return CallOutcome.failed(CallStatus.REJECTED, "invalid_arguments",
                                  f"{spec.name}: arguments once resolved: {exc}"[:2_000])
    logger.debug("call %s had its inputs after %.3fs", request.call_id,
                 time.monotonic() - started)
    return validated
