"""The Faust agents of the session loop: ``sessions`` and ``results`` in, the runtime does the rest.

Kept thin: each record is admitted or decoded, handed to the
:class:`SessionRuntime`, and acknowledged in offset order once what it caused
is journaled (:class:`OffsetTracker`, as the executor does), so a worker that
dies never commits past a record whose effect a successor could not re-fold.
Before a partition's first record is handled, its journal is re-folded: open
sessions of a partition this worker has just been given carry on here.

One record cannot stop the agent, nor the sessions of other records: anything
that raises while a record is handled (its partition's re-fold included) makes
that record a dead letter (``internal_error``), acked once the letter is out.
A result that is not a result is skipped, as before: the results topic has
other readers. A result for a call a session waits for reaches the session
only if ``results_check`` says it comes from that call's own execution
(:mod:`.result_check`); one that does not is logged and skipped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any, Literal

from async_toolformer.schemas import (
    DeadLetter,
    DeadLetterReason,
    SchemaError,
    SessionFailed,
    SessionStarted,
    ToolCallCompleted,
    ToolCallRequested,
    ToolResultReceived,
    decode_as,
    encode,
)

from ..executor.offsets import OffsetTracker
from ..policy import SessionPolicy
from ..tracing import (
    MAX_TRACED_SESSIONS,
    MAX_TURN_LINKS,
    TRACING,
    consumed,
    session_started,
)
from .catalogue import ToolCatalogue
from .intake import SessionLimits, SessionRefusal, admit_session
from .ports import RecordSink
from .result_check import ResultCheck
from .runtime import SessionRuntime

__all__ = ["SessionAgent"]

logger = logging.getLogger(__name__)


@dataclass
class SessionAgent:
    """State shared by the session agents of one worker."""

    runtime: SessionRuntime
    catalogue: ToolCatalogue
    outbox: RecordSink
    worker_id: str
    tracker: OffsetTracker[Any] = field(default_factory=OffsetTracker)
    limits: SessionLimits = field(default_factory=SessionLimits)
    policy: SessionPolicy | None = None  # what each tenant's sessions may do; None: anything
    results_check: ResultCheck | None = None  # None: results are taken as they come

    async def consume_sessions(self, stream: Any) -> None:
        """Agent body for ``sessions``: start sessions, cancel them, refuse bad requests."""
        events: AsyncIterable[Any] = stream.noack().events()
        async for event in events:
            message = event.message
            self.tracker.start(message.tp, message.offset, event)
            try:
                await self.runtime.ensure_recovered(message.partition)
                delivery = self._session_request(message)
            except Exception as exc:
                delivery = self._failed(message, exc)
            self._ack_when(delivery, message)

    def _session_request(self, message: Any) -> asyncio.Future[Any]:
        verdict = admit_session(message.value, message.key, self.catalogue, self.limits,
                                policy=self.policy)
        if isinstance(verdict, SessionRefusal):
            return self._refuse(verdict, message)
        self.runtime.note_partition(verdict.session_id, message.partition)
        if (TRACING.on and isinstance(verdict, SessionStarted)
                and len(self.runtime.spans) < MAX_TRACED_SESSIONS):
            self.runtime.spans[verdict.session_id] = session_started(message,
                                                                     verdict.session_id)
            self.runtime.result_links[verdict.session_id] = []
        return self.runtime.apply(verdict)

    async def consume_results(self, stream: Any) -> None:
        """Agent body for ``results``: hand each result to the session waiting for it."""
        events: AsyncIterable[Any] = stream.noack().events()
        async for event in events:
            message = event.message
            self.tracker.start(message.tp, message.offset, event)
            try:
                await self.runtime.ensure_recovered(message.partition)
                delivery = self._result(message)
            except Exception as exc:
                delivery = self._failed(message, exc)
            self._ack_when(delivery, message)

    def _result(self, message: Any) -> asyncio.Future[Any]:
        if not self._may_concern_a_session(message.key):
            return _done()  # most results belong to plain tool calls: skip decoding
        try:
            result = decode_as(ToolCallCompleted, message.value or b"")
        except SchemaError:
            return _done()  # not ours to judge: the results topic has other readers
        if TRACING.on:  # the session's next turn links to the result it answers
            taken = consumed(message, result).get_span_context()
            waiting = self.runtime.result_links.get(result.session_id)
            if waiting is not None and len(waiting) < MAX_TURN_LINKS:
                waiting.append(taken)
        event = ToolResultReceived(session_id=result.session_id, result=result)
        state = self.runtime.states.get(result.session_id)
        call = state.call(result.call_id) if state is not None else None
        request = call.request if call is not None and call.pending else None
        if self.results_check is None or request is None:
            return self.runtime.apply(event)  # nothing waits for it: the runtime drops it
        return asyncio.ensure_future(self._checked(event, request, message.value or b""))

    async def _checked(self, event: ToolResultReceived, request: ToolCallRequested,
                       wire: bytes) -> None:
        assert self.results_check is not None
        if await self.results_check.genuine(request, wire):
            await self.runtime.apply(event)
            return
        logger.warning("ignored a result for call %s of session %s: it is not the result of "
                       "the session's own call (forged, or another execution's)",
                       event.result.call_id[:256], event.session_id[:256])

    def _failed(self, message: Any, exc: Exception) -> asyncio.Future[Any]:
        """A record whose handling raised: a dead letter, so the partition moves on."""
        logger.error("handling %s[%d]@%d failed in the worker: %r", message.topic,
                     message.partition, message.offset, exc, exc_info=exc)
        refusal = SessionRefusal(DeadLetterReason.INTERNAL_ERROR, "the worker failed while "
                                 f"handling this record ({type(exc).__name__})")
        return self._refuse(refusal, message)

    def wants_result(self, message: Any) -> bool:
        """Whether ``message`` of ``results`` must become an event for ``consume_results``.

        Most results belong to plain tool calls. One that no session here can be
        waiting for (its partition re-folded, no open session with its key) and
        with nothing earlier of its partition still pending may be acked by the
        consumer at once, in offset order, without the cost of a stream event.
        """
        return (self.tracker.pending(message.tp) > 0
                or not self.runtime.is_recovered(message.partition)
                or self._may_concern_a_session(message.key))

    def _may_concern_a_session(self, key: bytes | None) -> bool:
        """Results are keyed by session id: one of no open session here needs no decoding."""
        if key is None:
            return True
        try:
            return key.decode() in self.runtime.states
        except UnicodeDecodeError:
            return True

    def on_assigned(self, partitions: set[int]) -> None:
        """Start re-folding newly assigned partitions before their first record arrives."""
        self.runtime.recover(partitions)
        for partition in partitions:
            task = asyncio.ensure_future(self.runtime.ensure_recovered(partition))
            task.add_done_callback(_log_failure)

    def on_revoked(self, partitions: set[int]) -> None:
        self.runtime.revoke(partitions)

    def _refuse(self, refusal: SessionRefusal, message: Any) -> asyncio.Future[Any]:
        letter = DeadLetter.of_record(
            reason=refusal.reason, error=refusal.error, source_topic=message.topic,
            source_partition=message.partition, source_offset=message.offset,
            key=message.key, value=message.value, worker_id=self.worker_id)
        topics = self.runtime.topics
        deliveries = [self.outbox.send(topics.dlq, letter.key, encode(letter))]
        if refusal.session_id is not None:
            reason: Literal["forbidden", "invalid_request"] = (
                "forbidden" if refusal.reason is DeadLetterReason.FORBIDDEN
                else "invalid_request")
            failed = SessionFailed(session_id=refusal.session_id, reason=reason,
                                   error=f"{refusal.reason.value}: {refusal.error}")
            deliveries.append(self.outbox.send(topics.session_events,
                                               refusal.session_id.encode(), encode(failed)))
        logger.warning("refused a session record from %s[%d]@%d: %s: %s", message.topic,
                       message.partition, message.offset, refusal.reason.value,
                       letter.error[:500])
        return asyncio.gather(*deliveries)

    def _ack_when(self, delivery: asyncio.Future[Any], message: Any) -> None:
        delivery.add_done_callback(
            functools.partial(self._delivered, tp=message.tp, offset=message.offset))

    def _delivered(self, delivery: asyncio.Future[Any], tp: Any, offset: int) -> None:
        if delivery.cancelled() or delivery.exception() is not None:
            return  # not journaled: the offset stays uncommitted and is redelivered
        for event in self.tracker.finish(tp, offset):
            event.ack()


def _done() -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("re-folding a journal partition failed: %r", error)
