"""What the console shows, folded from events as they arrive: sessions, their turns and calls.

Pure: :class:`ConsoleState` takes decoded events (:meth:`ConsoleState.apply`)
and says which session changed; :meth:`SessionView.as_json` is what the page
gets. A "session" is any session_id seen: an LLM session (``sessions``,
``session-events``) or the calls a client published under one id.

A call is ``queued`` once requested, ``running`` once the execution ledger
shows a worker's lease on it (:meth:`ConsoleState.mark_running`; never without
a ledger), and ends in its result's status, with the error's message as the
reason (for ``cancelled``: the reason the cancellation gave). A cancellation
seen while a call is pending is noted on it (``cancel_requested``) until its
result comes.

Bounded whatever arrives: at most ``max_sessions`` sessions (those idle longest
go first), ``max_calls`` calls and ``max_turns`` turns each, and every text
clipped; call arguments, outputs and record bytes are never kept.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from async_toolformer.schemas import (
    BranchCancelled,
    BranchDecision,
    DeadLetter,
    DeadlineReached,
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionCancelled,
    SessionCancelRequested,
    SessionCompleted,
    SessionFailed,
    SessionStarted,
    ToolCallCompleted,
    ToolCallDispatched,
    ToolCallRequested,
    ToolResultReceived,
)
from async_toolformer.streams.ops.console.views import (
    QUEUED,
    RUNNING,
    CallView,
    SessionView,
    TurnView,
    clip,
    dead_letter_view,
)

__all__ = ["ConsoleState"]


class ConsoleState:
    """Sessions by session_id, the most recently active last, and the latest dead letters."""

    def __init__(self, *, max_sessions: int = 200, max_calls: int = 500,
                 max_turns: int = 100, max_notes: int = 20, max_dead_letters: int = 100) -> None:
        self.sessions: OrderedDict[str, SessionView] = OrderedDict()
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=max_dead_letters)
        self.max_sessions = max_sessions
        self.max_calls = max_calls
        self.max_turns = max_turns
        self.max_notes = max_notes

    def apply(self, event: object) -> str | None:
        """Fold ``event``; the session_id whose view changed, or None."""
        fold = _FOLDS.get(type(event))
        if fold is None:
            return None
        fold(self, event)
        session_id: str = getattr(event, "session_id", "")
        return session_id if session_id in self.sessions else None

    def dead_letter(self, letter: DeadLetter) -> dict[str, Any]:
        """Keep ``letter``'s view (the oldest go past ``max_dead_letters``) and return it."""
        view = dead_letter_view(letter)
        self.dead_letters.append(view)
        return view

    def mark_running(self, session_id: str, call_id: str, worker_id: str) -> bool:
        """The ledger shows ``worker_id`` holding the call: True if that changed its view."""
        session = self.sessions.get(session_id)
        call = session.calls.get(call_id) if session is not None else None
        if call is None or call.status != QUEUED:
            return False
        call.status, call.worker_id = RUNNING, clip(worker_id, 200)
        return True

    def pending_calls(self, limit: int = 1_000) -> list[tuple[str, str]]:
        """(session_id, call_id) of calls without a result, the most recent sessions first."""
        found: list[tuple[str, str]] = []
        for session in reversed(self.sessions.values()):
            for call in session.calls.values():
                if call.pending:
                    found.append((session.session_id, call.call_id))
                    if len(found) >= limit:
                        return found
        return found

    def snapshot(self) -> list[dict[str, Any]]:
        return [s.as_json() for s in self.sessions.values()]

    # -- folding ----------------------------------------------------------------

    def _session(self, session_id: str) -> SessionView:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = SessionView(session_id)
            while len(self.sessions) > self.max_sessions:
                self.sessions.popitem(last=False)
        else:
            self.sessions.move_to_end(session_id)
        return session

    def _call(self, session_id: str, call_id: str, tool: str, branch_id: str) -> CallView | None:
        session = self._session(session_id)
        call = session.calls.get(call_id)
        if call is None:
            if len(session.calls) >= self.max_calls:
                return None
            call = session.calls[call_id] = CallView(call_id, clip(tool, 100), branch_id)
        return call

    def _requested(self, event: ToolCallRequested) -> None:
        call = self._call(event.session_id, event.call_id, event.tool, event.branch_id)
        session = self.sessions[event.session_id]
        session.tenant = session.tenant or event.tenant
        if session.started_at is None or event.requested_at < session.started_at:
            session.started_at = event.requested_at
        if call is not None and call.requested_at is None:
            call.requested_at = event.requested_at

    def _completed(self, result: ToolCallCompleted) -> None:
        call = self._call(result.session_id, result.call_id, result.tool, result.branch_id)
        if call is None or not call.pending:
            return  # the first result is the answer; later ones are re-emissions
        timings = result.timings
        call.status, call.attempts = result.status.value, result.attempts
        call.worker_id = clip(result.worker_id, 200)
        call.requested_at = call.requested_at or timings.requested_at
        call.started_at = timings.started_at or timings.received_at
        call.finished_at = timings.finished_at
        call.reason = clip(result.error.message) if result.error is not None else ""
        session = self.sessions[result.session_id]
        if session.started_at is None:
            session.started_at = timings.requested_at

    def _cancelled(self, event: BranchCancelled | SessionCancelled) -> None:
        branch = event.branch_id if isinstance(event, BranchCancelled) else None
        where = "session" if branch is None else f"branch {branch}"
        self._note(event.session_id, f"{clip(where, 80)} cancelled: {clip(event.reason)}")
        for call in self.sessions[event.session_id].calls.values():
            if call.pending and (branch is None or call.branch_id == branch):
                call.cancel_requested = clip(event.reason)

    def _started(self, event: SessionStarted) -> None:
        session = self._session(event.session_id)
        session.kind, session.tenant = "session", event.tenant
        session.prompt = clip(event.prompt or (event.messages[-1].content
                                               if event.messages else ""))
        session.started_at = event.started_at

    def _turn(self, event: LLMTurnStarted | LLMTurnCompleted | LLMTurnFailed) -> None:
        session = self._session(event.session_id)
        turn = session.turns.get(event.turn)
        if turn is None:
            if len(session.turns) >= self.max_turns:
                return
            turn = session.turns[event.turn] = TurnView(event.turn)
        if isinstance(event, LLMTurnStarted):
            turn.status, turn.started_at, turn.ended_at = RUNNING, event.at, None
        elif isinstance(event, LLMTurnCompleted):
            turn.status, turn.ended_at = "completed", event.at
            turn.detail = (f"{event.finish_reason}, {len(event.tool_calls)} tool calls, "
                           f"{event.llm_ms:.0f} ms")
        else:
            turn.status, turn.ended_at, turn.detail = "failed", event.at, clip(event.error)

    def _received(self, event: ToolResultReceived) -> None:
        self._completed(event.result)

    def _dispatched(self, event: ToolCallDispatched) -> None:
        call = self._call(event.session_id, event.call_id, event.tool, event.branch_id)
        if call is not None:
            call.turn = event.turn

    def _cancel_requested(self, event: SessionCancelRequested) -> None:
        self._note(event.session_id, f"cancel requested: {clip(event.reason)}")

    def _deadline(self, event: DeadlineReached) -> None:
        where = "session" if event.branch_id is None else f"branch {event.branch_id}"
        self._note(event.session_id, f"deadline reached ({clip(where, 80)})")

    def _session_completed(self, event: SessionCompleted) -> None:
        self._ended(event.session_id, "completed", event.at,
                    f"{event.stop_reason} after {event.turns} turns, {event.calls} calls "
                    f"(speedup {event.timings.speedup:.1f}x): {clip(event.answer)}")

    def _session_failed(self, event: SessionFailed) -> None:
        self._ended(event.session_id, "cancelled" if event.reason == "cancelled" else "failed",
                    event.at, f"{event.reason}: {clip(event.error)}")

    def _decided(self, event: BranchDecision) -> None:
        session = self._session(event.session_id)
        call = session.calls.get(event.call_id)
        if call is not None:
            call.decision = f"{event.decision}: {clip(event.reason, 120)}"

    def _note(self, session_id: str, text: str) -> None:
        notes = self._session(session_id).notes
        notes.append(text)
        del notes[:-self.max_notes]

    def _ended(self, session_id: str, status: str, at: datetime, detail: str) -> None:
        session = self._session(session_id)
        session.status, session.ended_at, session.detail = status, at, detail


_FOLDS: dict[type, Callable[[ConsoleState, Any], None]] = {
    ToolCallRequested: ConsoleState._requested,
    ToolCallCompleted: ConsoleState._completed,
    ToolResultReceived: ConsoleState._received,
    BranchCancelled: ConsoleState._cancelled,
    SessionCancelled: ConsoleState._cancelled,
    SessionStarted: ConsoleState._started,
    ToolCallDispatched: ConsoleState._dispatched,
    LLMTurnStarted: ConsoleState._turn,
    LLMTurnCompleted: ConsoleState._turn,
    LLMTurnFailed: ConsoleState._turn,
    BranchDecision: ConsoleState._decided,
    SessionCancelRequested: ConsoleState._cancel_requested,
    DeadlineReached: ConsoleState._deadline,
    SessionCompleted: ConsoleState._session_completed,
    SessionFailed: ConsoleState._session_failed,
}
"""How each event folds; anything else (a journal marker) changes nothing."""
