"""The session runtime: feeds the machine, journals what it applied, carries out its commands.

One per worker. ``apply`` is synchronous: the machine folds the event, the event
is queued for the journal and the commands start at once, so a tool call the
model has just finished writing is on its way to ``calls`` before the next
stream chunk is read. The returned future resolves when the journal has the
event; the agents acknowledge a record's offset only then, so a worker that dies
loses nothing a successor re-folding the journal would not see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime

from opentelemetry.trace import Span, SpanContext

from async_toolformer.schemas import (
    BranchCancelled,
    DeadlineReached,
    JournalMarker,
    SessionCancelled,
    SessionCancelRequested,
    SessionEvent,
    SessionStarted,
    ToolResultReceived,
    encode,
)
from async_toolformer.schemas._base import Event

from ..log_context import session_context
from ..tracing import TRACING, bind_span, current_headers, link_turn
from .commands import (
    ArmTimer,
    CallModel,
    CancelBranch,
    CancelSession,
    Close,
    Command,
    DispatchCall,
    Record,
    StopModel,
)
from .machine import SessionMachine
from .ports import Feed, JournalSource, ProviderSource, RecordSink, SessionTopics, TurnGuard
from .state import SessionState
from .turns import drive_turn

__all__ = ["SessionRuntime"]

logger = logging.getLogger(__name__)

_FINISHED_REMEMBERED = 100_000


class SessionRuntime:
    """Open sessions of one worker, their model tasks and timers."""

    def __init__(self, machine: SessionMachine, outbox: RecordSink, providers: ProviderSource,
                 topics: SessionTopics, journal: JournalSource | None = None, *,
                 guard: TurnGuard | None = None) -> None:
        self.machine = machine
        self.topics = topics
        self.states: dict[str, SessionState] = {}
        self.partition_of: dict[str, int] = {}
        self._outbox = outbox
        self._providers = providers
        self._journal = journal
        self._guard = guard
        self._models: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, list[asyncio.TimerHandle]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._recovered: dict[int, asyncio.Future[None]] = {}
        self.spans: dict[str, Span] = {}  # traced: each open session's span, for its turns
        self.result_links: dict[str, list[SpanContext]] = {}  # results since its last turn

    # -- input ------------------------------------------------------------------

    def wants(self, event: SessionEvent) -> bool:
        """Whether ``event`` changes anything (redeliveries and strangers do not)."""
        if isinstance(event, JournalMarker):
            return False
        if isinstance(event, SessionStarted):
            return event.session_id not in self.states and event.session_id not in self._finished
        state = self.states.get(event.session_id)
        if state is None or state.closed:
            return False
        if isinstance(event, ToolResultReceived):
            return state.is_pending(event.result.call_id)
        if isinstance(event, SessionCancelRequested) and event.tenant != state.request.tenant:
            logger.warning("ignored a cancellation of session %s from another tenant (%s)",
                           event.session_id, event.tenant[:64])
            return False
        return True

    def apply(self, event: SessionEvent) -> asyncio.Future[None]:
        """Fold, journal and act on ``event``; the future resolves once it is journaled."""
        if isinstance(event, JournalMarker):
            return _done()
        session_id = event.session_id
        if not self.wants(event):
            if session_id not in self.states:  # noted for a session not open here: forget it
                self.partition_of.pop(session_id, None)
            return _done()
        state, commands = self.machine.apply(self.states.get(session_id), event)
        if state is not None and session_id not in self._finished:
            self.states[session_id] = state
        delivery = self._journal_write(event)
        self._execute(commands)
        return delivery

    def note_partition(self, session_id: str, partition: int) -> None:
        self.partition_of.setdefault(session_id, partition)

    # -- commands ---------------------------------------------------------------

    def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            match command:
                case CallModel():
                    self._start_model(command)
                case DispatchCall(request=request) if TRACING.on:  # under the turn's span
                    self._outbox.send(self.topics.calls, request.session_id.encode(),
                                      encode(request), headers=current_headers())
                case DispatchCall(request=request):
                    self._outbox.send(self.topics.calls, request.session_id.encode(),
                                      encode(request))
                case CancelBranch(session_id=sid, branch_id=branch, reason=reason,
                                  tenant=tenant):
                    event = BranchCancelled(session_id=sid, branch_id=branch, reason=reason,
                                            tenant=tenant)
                    self._outbox.send(self.topics.cancellations, sid.encode(), encode(event))
                case CancelSession(session_id=sid, reason=reason, tenant=tenant):
                    cancelled = SessionCancelled(session_id=sid, reason=reason, tenant=tenant)
                    self._outbox.send(self.topics.cancellations, sid.encode(), encode(cancelled))
                case StopModel(session_id=sid):
                    self._stop_model(sid)
                case ArmTimer():
                    self._arm(command)
                case Record(event=event):
                    self._journal_write(event)
                case Close(session_id=sid):
                    self._forget(sid, finished=True)

    def _start_model(self, command: CallModel) -> None:
        session_id = command.session_id
        self._stop_model(session_id)
        holder: dict[str, asyncio.Task[None]] = {}

        def still_wanted() -> bool:
            return self._models.get(session_id) is holder.get("task")

        async def drive(feed: Feed) -> None:
            await drive_turn(command, self._providers, feed, still_wanted)

        async def turn() -> None:
            if self._guard is None:
                await drive(self.apply)
            else:
                await self._guard.run(command, drive, self.apply)

        context = session_context(session_id)
        if TRACING.on and (span := self.spans.get(session_id)) is not None:
            context.run(bind_span, span)  # the turn's span goes under the session's
            taken = self.result_links.get(session_id)
            if taken:  # and links to the results it answers
                context.run(link_turn, taken)
                self.result_links[session_id] = []
        task = asyncio.create_task(turn(), name=f"model-{session_id}-{command.turn}",
                                   context=context)
        holder["task"] = task
        self._models[session_id] = task
        task.add_done_callback(lambda done: self._model_done(session_id, done))

    def _model_done(self, session_id: str, task: asyncio.Task[None]) -> None:
        if self._models.get(session_id) is task:
            del self._models[session_id]

    def _stop_model(self, session_id: str) -> None:
        task = self._models.pop(session_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _arm(self, command: ArmTimer) -> None:
        delay = max(0.0, (command.due_at - datetime.now(UTC)).total_seconds())
        deadline = DeadlineReached(session_id=command.session_id, scope=command.scope,
                                   branch_id=command.branch_id)

        def fire() -> None:
            self.apply(deadline.model_copy(update={"at": datetime.now(UTC)}))

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.setdefault(command.session_id, []).append(handle)

    def _journal_write(self, event: Event) -> asyncio.Future[None]:
        session_id = getattr(event, "session_id", None)
        key = session_id.encode() if isinstance(session_id, str) else None
        return self._outbox.send(self.topics.session_events, key, encode(event))

    def _forget(self, session_id: str, *, finished: bool) -> None:
        self._stop_model(session_id)
        for handle in self._timers.pop(session_id, []):
            handle.cancel()
        self.states.pop(session_id, None)
        self.partition_of.pop(session_id, None)
        self.spans.pop(session_id, None)
        self.result_links.pop(session_id, None)
        if finished:
            self._finished[session_id] = None
            while len(self._finished) > _FINISHED_REMEMBERED:
                self._finished.popitem(last=False)

    # -- partitions -------------------------------------------------------------

    async def ensure_recovered(self, partition: int) -> None:
        """Re-fold the journal of ``partition`` once, before its records are handled."""
        self.recover({partition})
        future = self._recovered[partition]
        try:
            await asyncio.shield(future)
        except Exception:
            if self._recovered.get(partition) is future:
                del self._recovered[partition]  # the next record tries again
            raise

    def is_recovered(self, partition: int) -> bool:
        """True once ``partition``'s journal is re-folded: its open sessions are all known."""
        future = self._recovered.get(partition)
        return future is not None and future.done() and future.exception() is None

    def recover(self, partitions: set[int]) -> None:
        """Start re-folding those of ``partitions`` not yet re-folded, in one read."""
        todo = {p for p in partitions if p not in self._recovered}
        if not todo:
            return
        batch = asyncio.ensure_future(self._recover(todo))
        for partition in todo:
            self._recovered[partition] = batch

    def revoke(self, partitions: set[int]) -> None:
        """Partitions went to another worker: drop their sessions without a word."""
        for partition in partitions:
            self._recovered.pop(partition, None)
        for session_id, partition in list(self.partition_of.items()):
            if partition in partitions:
                self._forget(session_id, finished=False)

    async def _recover(self, partitions: set[int]) -> None:
        if self._journal is None:
            return
        read = await self._journal.read_many(partitions)
        for partition, events in sorted(read.items()):
            self._refold(partition, events)

    def _refold(self, partition: int, events: Sequence[SessionEvent]) -> None:
        live = set(self.states) | set(self._finished)
        folded: dict[str, SessionState] = {}
        for event in events:
            if isinstance(event, JournalMarker) or event.session_id in live:
                continue
            state, _ = self.machine.apply(folded.get(event.session_id), event)
            if state is not None:
                folded[event.session_id] = state
        resumed = 0
        for session_id, state in folded.items():
            if state.closed:
                self._finished[session_id] = None
                continue
            self.states[session_id] = state
            self.partition_of[session_id] = partition
            self._execute(self.machine.resume(state))
            resumed += 1
        if resumed:
            logger.info("resumed %d open sessions of partition %d", resumed, partition)

    async def close(self) -> None:
        """Stop model tasks and timers (shutdown); sessions resume wherever they land next."""
        tasks = list(self._models.values())
        for session_id in list(self.states):
            self._forget(session_id, finished=False)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future
