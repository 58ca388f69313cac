"""Dependent calls: wait for a call's inputs, then put their values into its arguments.

A call with ``depends_on`` waits here for each input's result before it takes
anything (its claim, a place under its tool's cap, a rate-limit admission: a
waiting call holding the only place its own input needs would wait for good);
then it is claimed like any other, so a redelivery is answered from the ledger.
The executor posts the results of its own calls to an :class:`InputBoard` as it
publishes them, with the tenant of the call each answers, and an input recorded
before this worker saw the dependent is read through the :class:`RecordedInputs`
port (the execution ledger). An input is only ever a result of the dependent's
own tenant and session: a record carries neither, so one is read only for a
call_id this executor published for that tenant and session (it remembers whose
the last :data:`KNOWN` results were); inputs are calls of the same session, so
they share its partition and, normally, this worker. Without a ledger the board
also keeps recent results' bytes, at most :data:`REMEMBERED_BYTES`, so an input
that ended before its dependent arrived is still found.

Every way this can go wrong ends the call, never stalls it (docs/plans.md):

- an input that ended other than ``ok``: ``cancelled``, type ``input_failed``, naming it;
- no result of an input within the call's timeout: ``error``, type ``input_missing``;
- calls waiting for each other on this worker: ``rejected``, type ``dependency_cycle``;
- a path that leads nowhere in an input's output: ``error``, type ``invalid_reference``;
- arguments that do not fit the tool once resolved (or are larger than a result may be):
  ``rejected``, type ``invalid_arguments``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested, decode_as

from ..exceptions import InvalidArgumentsError
from ..plans import DependencyCycleError, PathNotFoundError, substitute
from ..plans.graph import refuse_cycle
from ..tools import ToolSpec
from .guarding import Sealed
from .identity import CONFLICT
from .limits import CallLimits, shape_problem
from .outcome import CallOutcome

__all__ = ["InputBoard", "RecordedInputs", "prepare_arguments"]

logger = logging.getLogger(__name__)

_POLL_S = 1.0  # how often a waiting call looks in the ledger for inputs recorded elsewhere
KNOWN = 16_384  # results whose tenant and session are remembered (their inputs' owners)
REMEMBERED_BYTES = 64 * 1024 * 1024  # bytes of results kept when there is no ledger


class RecordedInputs(Protocol):
    """Reads the recorded results of calls (the execution ledger), None for one not recorded."""

    async def recorded(self, call_ids: Sequence[str]) -> list[ToolCallCompleted | None]: ...


class _Known(NamedTuple):
    """Whose a result this executor published is, and (without a ledger) its bytes."""

    tenant: str
    session_id: str
    wire: bytes | None


class InputBoard:
    """Results dependent calls wait for, whose they are, and who waits for what (for cycles).

    A result is an input only to a call of the same tenant and session: the ledger's
    record of a call_id says neither whose it is nor (without the input's arguments)
    lets its fingerprint be checked, so the board keeps the tenant and session of
    each result this executor published (the last :data:`KNOWN`), and a record is
    read from the ledger only for a call_id known here to be the dependent's own.
    """

    def __init__(self, recorded: RecordedInputs | None = None, *,
                 poll_s: float = _POLL_S, known: int = KNOWN,
                 remembered_bytes: int = REMEMBERED_BYTES) -> None:
        self._recorded = recorded
        self._poll_s = poll_s
        self._max_known = known
        self._max_bytes = remembered_bytes
        self._bytes = 0  # of the wires kept (only without a ledger)
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._waiters: dict[tuple[str, str, str], list[asyncio.Future[ToolCallCompleted]]] = {}
        self._inputs_of: dict[str, tuple[str, ...]] = {}  # waiting call -> its inputs

    def post(self, result: Sealed, tenant: str) -> None:
        """A result this executor publishes for a call of ``tenant``: wakes the calls of that
        tenant and session waiting for it, and is remembered as theirs.

        Cheap when nobody waits (no model is built): a look-up and an insertion. A
        ``Conflict`` answer (the call_id is another execution's) is not remembered:
        the ledger's record under that call_id is not the answered call's.
        """
        call_id, session_id = result.call_id, result.session_id
        waiters = self._waiters.pop((tenant, session_id, call_id), None)
        if waiters:
            event = result.event
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(event)
        if result.status is CallStatus.REJECTED and _is_conflict(result.event):
            return
        wire = None if self._recorded is not None else result.wire
        old = self._known.pop(call_id, None)
        if old is not None and old.wire is not None:
            self._bytes -= len(old.wire)
        if wire is not None and len(wire) > self._max_bytes:
            wire = None  # too big to keep at all: known, not found
        self._known[call_id] = _Known(tenant, session_id, wire)
        if wire is not None:
            self._bytes += len(wire)
        while len(self._known) > self._max_known or self._bytes > self._max_bytes:
            _, dropped = self._known.popitem(last=False)
            if dropped.wire is not None:
                self._bytes -= len(dropped.wire)

    @property
    def waiting(self) -> int:
        return len(self._inputs_of)

    @property
    def remembered_bytes(self) -> int:
        """Bytes of results kept in memory (only without a ledger), at most the budget."""
        return self._bytes

    async def wait(self, request: ToolCallRequested, timeout_s: float
                   ) -> dict[str, ToolCallCompleted]:
        """The result of each input of ``request``, waiting at most ``timeout_s``.

        Raises DependencyCycleError if its inputs wait (through other waiting
        calls) for it, TimeoutError naming the inputs still missing.
        """
        call_id, owner = request.call_id, (request.tenant, request.session_id)
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
            self._waiters.setdefault((*owner, input_id), []).append(future)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                await self._look_up(futures, owner)
                pending = [f for f in futures.values() if not f.done()]
                left = deadline - time.monotonic()
                if not pending:
                    return {c: f.result() for c, f in futures.items()}
                if left <= 0:
                    raise TimeoutError(", ".join(c for c, f in futures.items() if not f.done()))
                await asyncio.wait(pending, timeout=min(left, self._poll_s))
        finally:
            self._forget(call_id, owner, futures)

    def _inputs_of_waiting(self, call_id: str) -> Iterable[str]:
        return self._inputs_of.get(call_id, ())

    async def _look_up(self, futures: dict[str, asyncio.Future[ToolCallCompleted]],
                       owner: tuple[str, str]) -> None:
        asked: list[str] = []  # the owner's results not kept here: in the ledger
        for input_id, future in futures.items():
            known = self._known.get(input_id)
            if future.done() or known is None or (known.tenant, known.session_id) != owner:
                continue  # not known here as the owner's: never read, even by call id
            if known.wire is not None:
                future.set_result(decode_as(ToolCallCompleted, known.wire))
            elif self._recorded is not None:
                asked.append(input_id)
        if not asked or self._recorded is None:
            return
        try:
            found = await self._recorded.recorded(asked)
        except Exception:  # the ledger's Redis is away: wait for the results posted here
            logger.warning("reading %d inputs from the ledger failed; waiting on", len(asked),
                           exc_info=True)
            return
        for input_id, result in zip(asked, found, strict=True):
            future = futures[input_id]
            if (result is not None and result.session_id == owner[1]
                    and not future.done()):
                future.set_result(result)

    def _forget(self, call_id: str, owner: tuple[str, str],
                futures: dict[str, asyncio.Future[ToolCallCompleted]]) -> None:
        self._inputs_of.pop(call_id, None)
        for input_id, future in futures.items():
            key = (*owner, input_id)
            waiters = self._waiters.get(key)
            if waiters is not None:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
                if not waiters:
                    del self._waiters[key]
            future.cancel()


def _is_conflict(event: ToolCallCompleted) -> bool:
    return event.error is not None and event.error.type == CONFLICT


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
    size = _encoded_size(resolved)
    if size > limits.max_result_bytes:  # 64 references to one large output, say
        return CallOutcome.failed(
            CallStatus.REJECTED, "invalid_arguments",
            f"{spec.name}: arguments once resolved are {size} bytes, over the limit of "
            f"{limits.max_result_bytes} (the largest result)")
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


def _encoded_size(value: Any) -> int:
    """The size of ``value`` as JSON; values from results always encode (recorded as JSON)."""
    try:
        return len(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError):
        return 0  # left to the shape check and the tool's validation
