"""Where speculation sees a session: the records its loop sends, read on their way out.

The session loop writes everything it does through one ordered outbox: the
calls it dispatches (``calls``) and its journal (``session-events``). Wrapping
that outbox shows the speculation runtime each dispatched call, each result the
session took, each model turn and the session's end, in the order the loop
acted on them, without another consumer. The wrapper sends every record on
unchanged first; a record it cannot read, or a runtime that raises, is logged
and never stops the session.

Decided speculative runs go back into the journal: through the session runtime
while the session is open (so the machine folds their saved time into
``SessionCompleted.timings``), straight to the journal once it has ended.
"""

from __future__ import annotations

import asyncio
import logging

from async_toolformer.agents.sessions import SessionRuntime
from async_toolformer.agents.sessions.ports import RecordSink
from async_toolformer.schemas import (
    LLMTurnCompleted,
    LLMTurnStarted,
    SchemaError,
    SessionCompleted,
    SessionFailed,
    SpeculativeCallRan,
    ToolCallRequested,
    ToolResultReceived,
    decode_as,
    decode_session_event,
    encode,
)
from async_toolformer.streams.worker.speculation import SpeculationRuntime

__all__ = ["SpeculationTap"]

logger = logging.getLogger(__name__)

# The journal records speculation acts on; the others are passed without decoding.
_WANTED = (b'"tool_result_received"', b'"llm_turn_started"', b'"llm_turn_completed"',
           b'"session_completed"', b'"session_failed"')
_TYPE_WITHIN = 64  # the type tag is the second field of every encoded event


class SpeculationTap:
    """A :class:`RecordSink` that forwards records and shows the session's ones to speculation."""

    def __init__(self, sink: RecordSink, runtime: SpeculationRuntime, *, calls_topic: str,
                 journal_topic: str) -> None:
        self._sink = sink
        self._runtime = runtime
        self._calls = calls_topic
        self._journal = journal_topic
        self._sessions: SessionRuntime | None = None
        runtime.journal = self._write

    def attach(self, sessions: SessionRuntime) -> None:
        """The session runtime that journals runs of open sessions (and folds them)."""
        self._sessions = sessions

    def send(self, topic: str, key: bytes | None, value: bytes, *,
             headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        delivery = self._sink.send(topic, key, value, headers=headers)
        if topic == self._calls or (topic == self._journal and _wanted(value)):
            try:
                self._show(topic, value)
            except Exception:
                logger.exception("speculation could not follow a record of %s; ignored", topic)
        return delivery

    def _show(self, topic: str, value: bytes) -> None:
        runtime = self._runtime
        if topic == self._calls:
            try:
                request = decode_as(ToolCallRequested, value)
            except SchemaError:
                return
            runtime.on_call(request)
            return
        try:
            event = decode_session_event(value)
        except SchemaError:
            return
        match event:
            case ToolResultReceived(session_id=sid, result=result):
                if (tenant := self._tenant_of(sid)) is not None:
                    runtime.on_result(result, tenant)
            case LLMTurnStarted(session_id=sid, turn=turn):
                if (tenant := self._tenant_of(sid)) is not None:
                    runtime.on_turn_started(sid, tenant, turn)
            case LLMTurnCompleted(session_id=sid, turn=turn):
                runtime.on_turn_completed(sid, turn)
            case SessionCompleted(session_id=sid) | SessionFailed(session_id=sid):
                runtime.on_session_end(sid)
            case _:
                pass

    def _tenant_of(self, session_id: str) -> str | None:
        if self._sessions is None:
            return None
        state = self._sessions.states.get(session_id)
        return state.request.tenant if state is not None else None

    def _write(self, event: SpeculativeCallRan) -> None:
        """Journal a decided run, after what the loop is doing now (never inside it)."""
        asyncio.get_running_loop().call_soon(self._journal_now, event)

    def _journal_now(self, event: SpeculativeCallRan) -> None:
        sessions = self._sessions
        state = sessions.states.get(event.session_id) if sessions is not None else None
        try:
            if sessions is not None and state is not None and not state.closed:
                delivery = sessions.apply(event)
            else:
                delivery = self._sink.send(self._journal, event.session_id.encode(),
                                           encode(event))
        except Exception as exc:  # the outbox is closing: the run stays unjournaled
            logger.warning("a speculative run could not be journaled: %r", exc)
            return
        delivery.add_done_callback(_log_failure)


def _wanted(value: bytes) -> bool:
    head = value[:_TYPE_WITHIN]
    return any(tag in head for tag in _WANTED)


def _log_failure(delivery: asyncio.Future[None]) -> None:
    if not delivery.cancelled() and (error := delivery.exception()) is not None:
        logger.warning("a speculative run could not be journaled: %r", error)
