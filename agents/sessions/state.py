"""A session's state: what the journal folds into. Plain dataclasses, in memory only.

State is never stored: a worker that takes a session over re-folds its journal,
so these types are free to change between versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from async_toolformer.schemas import LLMTurnCompleted, SessionStarted, ToolCallRequested

from ..providers import Message

__all__ = ["CallState", "SessionState", "Settled", "TurnState"]


@dataclass(slots=True)
class Settled:
    """How a call ended, as the model will be told."""

    content: str
    is_error: bool
    status: str
    run_ms: float = 0.0
    score: float | None = None
    acceptable: bool = False


@dataclass(slots=True)
class CallState:
    """One call the model proposed; ``call_id`` is None when it was refused locally."""

    turn: int
    index: int
    llm_call_id: str
    tool: str
    raw_arguments: str
    arguments: dict[str, Any] | None = None
    request: ToolCallRequested | None = None
    dispatched_at: datetime | None = None
    settled: Settled | None = None
    settled_order: int = 0

    @property
    def pending(self) -> bool:
        return self.settled is None

    @property
    def call_id(self) -> str | None:
        return self.request.call_id if self.request else None

    @property
    def branch_id(self) -> str | None:
        return self.request.branch_id if self.request else None


@dataclass(slots=True)
class TurnState:
    index: int
    attempt: int
    started_at: datetime
    completed: LLMTurnCompleted | None = None
    calls: dict[int, CallState] = field(default_factory=dict)
    decided_groups: set[int] = field(default_factory=set)
    top_n_closed: bool = False

    def all_settled(self) -> bool:
        return all(not call.pending for call in self.calls.values())


@dataclass(slots=True)
class SessionState:
    request: SessionStarted
    history: list[Message]
    turns: list[TurnState] = field(default_factory=list)
    next_turn: int | None = 0
    call_index: dict[str, tuple[int, int]] = field(default_factory=dict)
    branch_index: dict[str, str] = field(default_factory=dict)
    deadline_at: datetime | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0
    tool_wait_ms: float = 0.0
    sequential_tool_ms: float = 0.0
    saved_tool_ms: float = 0.0
    speculation_saved_ms: float = 0.0
    settle_counter: int = 0
    closed: bool = False

    @property
    def session_id(self) -> str:
        return self.request.session_id

    @property
    def current(self) -> TurnState | None:
        return self.turns[-1] if self.turns else None

    def call(self, call_id: str) -> CallState | None:
        where = self.call_index.get(call_id)
        if where is None:
            return None
        turn, index = where
        return self.turns[turn].calls.get(index)

    def is_pending(self, call_id: str) -> bool:
        call = self.call(call_id)
        return not self.closed and call is not None and call.pending

    def call_count(self) -> int:
        return sum(len(turn.calls) for turn in self.turns)
