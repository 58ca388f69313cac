"""The executor's side of a worker: ``calls`` and ``cancellations`` in, results out.

Kept thin: each record is handed to :func:`admit` and the :class:`CallExecutor`;
the agent's own work is bookkeeping of offsets. ``calls`` records come straight
from Faust's consumer, a fetch at a time (:meth:`ExecutorAgent.take_calls`, the
hot path, without Faust's stream events); ``cancellations`` is a plain Faust
agent. A record is acked only once its result (or dead letter) is acknowledged
by the broker and every earlier record of its partition is too
(:class:`OffsetTracker`), so a commit never skips a call.

Every record ends in a result, a dead letter or both, and is then acked: one
that raises anything while it is admitted or refused is dead-lettered as an
``internal_error``; a dead letter or result the broker refuses for good (too
large for it) is logged and counted by the publisher, and a result is then
replaced by an ``OutputTooLarge`` error that fits; a dead letter is not sent
again. Nothing one record does can stop the records after it. The answers to a
fetch's refused calls are recorded in the ledger in one go, like any result
(:meth:`CallExecutor.answer`), so the session that sent them takes them.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Span

from async_toolformer.schemas import (
    CallStatus,
    Cancellation,
    DeadLetter,
    DeadLetterReason,
    SchemaError,
    ToolCallRequested,
    ToolError,
    decode,
    encode,
)

from ..policy import Policy
from ..tools import ToolRegistry
from ..tracing import CALLS, TRACING, bind_span, published, spans_between, unbind_span
from .executor import CallExecutor
from .guarding import ResultSink, Sealed
from .intake import Admission, Refusal, admit
from .kept_cancellations import CancellationRecall
from .limits import CallLimits
from .offsets import OffsetTracker
from .outcome import rejected_event
from .ports import EventPublisher, ExecutorObserver, HeaderPublisher, NullObserver

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResultPublisher:
    """The executor's sink, shared with the agent's refusals: returns once the broker has it."""

    publisher: EventPublisher
    topic: str
    observer: ExecutorObserver
    headed: bool = field(init=False, default=False)  # sends headers: traced results can go

    def __post_init__(self) -> None:  # asked once: isinstance of a protocol takes microseconds
        object.__setattr__(self, "headed", isinstance(self.publisher, HeaderPublisher))

    async def __call__(self, sealed: Sealed) -> None:
        if TRACING.on and self.headed:
            await self._traced(sealed, self.publisher)  # type: ignore[arg-type]
            return
        if not await self.publisher.publish(self.topic, sealed.session_id.encode(), sealed.wire):
            sealed = await self._instead(sealed)
        self.observer.result(sealed)

    async def _traced(self, sealed: Sealed, publisher: HeaderPublisher) -> None:
        sending = CALLS.publishing(sealed.call_id, self.topic)
        ok = await publisher.publish_headed(self.topic, sealed.session_id.encode(), sealed.wire,
                                            None if sending is None else sending[0])
        if not ok:
            sealed = await self._instead(sealed)
        self._observe_under(sealed, None if sending is None else sending[1][-1])
        if sending is not None:
            published(sending[1], refused=not ok)

    async def many(self, results: Sequence[Sealed]) -> None:
        """All of ``results`` at once: a batch per partition (the executor's ``sink_many``)."""
        if TRACING.on and self.headed:
            await self._many_traced(results, self.publisher)  # type: ignore[arg-type]
            return
        refused = await self.publisher.publish_many(
            self.topic, [(s.session_id.encode(), s.wire) for s in results])
        await self._settled(results, refused)

    async def _many_traced(self, results: Sequence[Sealed], publisher: HeaderPublisher) -> None:
        sendings = [CALLS.publishing(s.call_id, self.topic) for s in results]
        refused = await publisher.publish_many_headed(self.topic, [
            (s.session_id.encode(), s.wire, None if sending is None else sending[0])
            for s, sending in zip(results, sendings, strict=True)])
        await self._settled(results, refused,
                            [None if sending is None else sending[1][-1] for sending in sendings])
        ids = {id(value) for _, value in refused}
        for sealed, sending in zip(results, sendings, strict=True):
            if sending is not None:
                published(sending[1], refused=id(sealed.wire) in ids)

    def _observe_under(self, sealed: Sealed, span: Span | None) -> None:
        """Observe ``sealed`` with its call's span current (the latency's exemplar)."""
        token = bind_span(span)
        try:
            self.observer.result(sealed)
        finally:
            unbind_span(token)

    async def _settled(self, results: Sequence[Sealed],
                       refused: list[tuple[bytes | None, bytes]],
                       spans: Sequence[Span | None] | None = None) -> None:
        if refused:
            ids = {id(value) for _, value in refused}
            results = [await self._instead(s) if id(s.wire) in ids else s for s in results]
        if spans is not None:
            for sealed, span in zip(results, spans, strict=True):
                self._observe_under(sealed, span)
            return
        for sealed in results:
            self.observer.result(sealed)

    async def _instead(self, sealed: Sealed) -> Sealed:
        """A result the broker refused (over its message limit): answer OutputTooLarge instead."""
        event = sealed.event
        small = Sealed.of(event.model_copy(update={
            "status": CallStatus.ERROR, "output": None, "retry_after_ms": None,
            "cached": False, "cache_age_ms": None,
            "error": ToolError(type="OutputTooLarge",
                               message=f"the result is {len(sealed.wire)} bytes, more than the "
                                       "broker takes on the results topic")}))
        await self.publisher.publish(self.topic, small.session_id.encode(), small.wire)
        return small


@dataclass
class ExecutorAgent:
    """State shared by the two agents of one worker."""

    registry: ToolRegistry
    executor: CallExecutor
    publisher: EventPublisher
    publish_result: ResultSink
    dlq_topic: str
    worker_id: str
    max_payload_bytes: int
    ack: Callable[[list[Any]], object]  # marks ``calls`` records done, for the consumer to commit
    observer: ExecutorObserver = field(default_factory=NullObserver)
    tracker: OffsetTracker[Any] = field(default_factory=OffsetTracker)
    limits: CallLimits = field(default_factory=CallLimits)
    recall: CancellationRecall | None = None  # cancellations that outlive this worker
    policy: Policy | None = None  # what each tenant may call; None: everything
    accepting: bool = True
    _side_tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.observer.watch_held(self.tracker.held)

    async def take_calls(self, records: Sequence[Any]) -> None:
        """Tap of ``calls``: records straight from Faust's consumer, a fetch at a time.

        Admitted calls start together (:meth:`CallExecutor.submit_batch`). Waits
        while the worker is at its cap on calls in flight, which holds up the
        consumer: backpressure instead of an unbounded buffer.
        """
        if not self.accepting:
            return  # shutting down: these records stay uncommitted and are redelivered
        if self.recall is not None:  # a partition new here: its cancellations first
            await self.recall.ready({record.partition for record in records})
        received_at = datetime.now(UTC)
        admitted: list[tuple[Admission, Any]] = []
        refused: list[tuple[Refusal, Any]] = []
        try:
            for record in records:
                verdict = self._admit(record) if not TRACING.on else self._admit_traced(record)
                if isinstance(verdict, Refusal):
                    self.tracker.start(record.tp, record.offset, record)
                    refused.append((verdict, record))
                    continue
                if not self.executor.try_reserve():
                    self._submit(admitted, received_at)  # those reserved must not wait on us
                    admitted = []
                    await self.executor.reserve()
                self.tracker.start(record.tp, record.offset, record)
                admitted.append((verdict, record))
        finally:  # even when cut short: a reserved and tracked call must run
            self._submit(admitted, received_at)
            self._refuse_all(refused, received_at)

    def _admit(self, record: Any) -> Admission | Refusal:
        try:
            return admit(record.value, record.key, self.registry,
                         max_bytes=self.max_payload_bytes, limits=self.limits,
                         policy=self.policy)
        except Exception as exc:  # a validator of a user's tool that raised, say
            logger.exception("admitting %s[%d]@%d failed", record.topic, record.partition,
                             record.offset)
            return Refusal(DeadLetterReason.INTERNAL_ERROR,
                           f"the worker failed while admitting this record ({type(exc).__name__})")

    def _admit_traced(self, record: Any) -> Admission | Refusal:
        """``_admit`` under the call's span (kept until its result is published)."""
        span = CALLS.received(record)
        started = time.time_ns()
        verdict = self._admit(record)
        spans_between("admit", [span], started)
        if isinstance(verdict, Refusal):
            span.set_attribute("toolformer.refused", verdict.reason.value)
            CALLS.hold(verdict.call_id, None, span)  # its tool name may be anything at all
        else:
            CALLS.hold(verdict.request.call_id, verdict.request.tool, span)
        return verdict

    def _submit(self, admitted: list[tuple[Admission, Any]], received_at: datetime) -> None:
        if not admitted:
            return
        records = [record for _, record in admitted]

        def ended(index: int, done: asyncio.Future[Any]) -> None:
            record = records[index]
            self._finished(done, tp=record.tp, offset=record.offset)

        self.executor.submit_batch([a for a, _ in admitted], received_at=received_at,
                                   on_end=ended)

    def _refuse_all(self, refused: list[tuple[Refusal, Any]], received_at: datetime) -> None:
        """Refuse the refused records of a fetch in one task, acking each once it is done."""
        if not refused:
            return
        task = asyncio.create_task(self._refuse(refused, received_at))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        for _, record in refused:
            task.add_done_callback(self._finisher(record))

    def _finisher(self, record: Any) -> Callable[[asyncio.Future[Any]], None]:
        return functools.partial(self._finished, tp=record.tp, offset=record.offset)

    def partitions_revoked(self, partitions: set[Any]) -> None:
        """Forget the records of revoked partitions: their offsets stay uncommitted.

        Their calls may still finish here; the new owner reads them again and the
        execution ledger answers it (recorded, or held by this worker until then).
        """
        dropped = sum(self.tracker.forget(tp) for tp in partitions)
        if self.recall is not None:
            self.recall.forget(tp.partition for tp in partitions)
        if dropped:
            logger.info("left %d uncommitted records of %d revoked partitions to their next "
                        "owner", dropped, len(partitions))

    async def consume_cancellations(self, stream: Any) -> None:
        """Agent body for ``cancellations``: cancel now, and remember for calls not yet read.

        A record that is not a cancellation is dead-lettered; one whose handling
        raises anyway is dead-lettered as ``internal_error``; Faust acks each
        record as the loop moves on to the next.
        """
        events: AsyncIterable[Any] = stream.events()
        async for event in events:
            message = event.message
            try:
                await self._cancel(message)
            except Exception as exc:
                logger.exception("a cancellation failed in the worker")
                await self._dead_letter(
                    DeadLetterReason.INTERNAL_ERROR,
                    f"the worker failed while handling this record ({type(exc).__name__})",
                    message, call_id=None)

    async def _cancel(self, message: Any) -> None:
        raw: bytes = message.value or b""
        if len(raw) > self.max_payload_bytes:
            await self._dead_letter(
                DeadLetterReason.TOO_LARGE,
                f"the record is {len(raw)} bytes, over the limit of {self.max_payload_bytes}",
                message, call_id=None)
            return
        try:
            cancellation = decode(raw)
            if not isinstance(cancellation, Cancellation):
                raise SchemaError(  # noqa: TRY301 - one path for every kind of bad input
                    f"expected a branch_cancelled or session_cancelled event, "
                    f"got {cancellation.type!r}")
        except SchemaError as exc:
            await self._dead_letter(DeadLetterReason.INVALID_EVENT, str(exc), message,
                                    call_id=None)
            return
        cancelled = self.executor.cancel(cancellation)
        logger.info("cancelled %d running calls of %s", cancelled, cancellation)
        if self.recall is not None:  # before the record is acked: a next owner finds it
            await self.recall.keep(message.partition, cancellation)

    async def _refuse(self, refused: list[tuple[Refusal, Any]], received_at: datetime) -> None:
        """Dead-letter refused records and answer the calls that can be named; never raises,
        so the records are acked whatever happens here (the log says what did).

        A decoded call's answer is recorded under its fingerprint first, all in one
        go; one that did not decode cannot be fingerprinted and is published
        unrecorded (its session's deadline decides for it).
        """
        letters = await asyncio.gather(*(self._refusal_answer(refusal, message, received_at)
                                         for refusal, message in refused))
        recordable: list[tuple[ToolCallRequested, Sealed]] = []
        for (refusal, _), rejected in zip(refused, letters, strict=True):
            if rejected is not None and refusal.request is not None:
                recordable.append((refusal.request, rejected))
            elif rejected is not None:
                await self._publish_refusal(self.publish_result(rejected), 1)
        await self._publish_refusal(self.executor.answer(recordable), len(recordable))

    async def _refusal_answer(self, refusal: Refusal, message: Any,
                              received_at: datetime) -> Sealed | None:
        """Dead-letter one refused record; its ``rejected`` answer, if its call can be named."""
        try:
            await self._dead_letter(refusal.reason, refusal.error, message,
                                    call_id=refusal.call_id)
            rejected = rejected_event(refusal, worker_id=self.worker_id, received_at=received_at)
            return None if rejected is None else Sealed.of(rejected)
        except Exception:
            logger.exception("refusing %s[%d]@%d failed; it is acked without an answer",
                             message.topic, message.partition, message.offset)
            return None

    @staticmethod
    async def _publish_refusal(publishing: Awaitable[None], count: int) -> None:
        try:
            await publishing
        except Exception:
            logger.exception("answering %d refused calls failed; they are acked without an "
                             "answer", count)

    async def _dead_letter(self, reason: DeadLetterReason, error: str, message: Any,
                           *, call_id: str | None) -> None:
        letter = DeadLetter.of_record(
            reason=reason, error=error, source_topic=message.topic,
            source_partition=message.partition, source_offset=message.offset,
            key=message.key, value=message.value, call_id=call_id, worker_id=self.worker_id,
        )
        await self.publisher.publish(self.dlq_topic, letter.key, encode(letter))
        self.observer.dead_letter(reason)
        logger.warning("dead letter from %s[%d]@%d: %s: %s", message.topic, message.partition,
                       message.offset, reason.value, letter.error[:500])

    def _finished(self, done: asyncio.Future[Any], tp: Any, offset: int) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # no acknowledged result: the offset stays uncommitted and is redelivered
        ready = self.tracker.finish(tp, offset)
        if ready:
            self.ack(ready)
