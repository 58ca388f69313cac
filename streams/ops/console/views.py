"""The console's views of a session, its turns and calls, and of a dead letter, as JSON.

Every text is clipped (:func:`clip`); call arguments, outputs and record bytes
are never part of a view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from async_toolformer.schemas import DeadLetter

__all__ = ["QUEUED", "RUNNING", "CallView", "SessionView", "TurnView", "clip",
           "dead_letter_view"]

QUEUED, RUNNING = "queued", "running"
_TEXT = 300  # characters of any producer-supplied text kept


def clip(text: str | None, limit: int = _TEXT) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[:limit] + "…"


def _at(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@dataclass(slots=True)
class CallView:
    call_id: str
    tool: str
    branch_id: str
    status: str = QUEUED
    turn: int | None = None
    requested_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str = ""
    attempts: int = 0
    reason: str = ""
    cancel_requested: str = ""
    decision: str = ""

    @property
    def pending(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    def as_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "tool": self.tool, "branch_id": self.branch_id,
                "status": self.status, "turn": self.turn,
                "requested_at": _at(self.requested_at), "started_at": _at(self.started_at),
                "finished_at": _at(self.finished_at), "worker_id": self.worker_id,
                "attempts": self.attempts, "reason": self.reason,
                "cancel_requested": self.cancel_requested, "decision": self.decision}


@dataclass(slots=True)
class TurnView:
    turn: int
    status: str = RUNNING  # running, completed, failed
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"turn": self.turn, "status": self.status, "started_at": _at(self.started_at),
                "ended_at": _at(self.ended_at), "detail": self.detail}


@dataclass(slots=True)
class SessionView:
    session_id: str
    kind: str = "calls"  # "session" once its request is seen
    status: str = "open"  # open, completed, failed, cancelled
    tenant: str = ""
    prompt: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    detail: str = ""
    turns: dict[int, TurnView] = field(default_factory=dict)
    calls: dict[str, CallView] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "kind": self.kind, "status": self.status,
                "tenant": self.tenant, "prompt": self.prompt,
                "started_at": _at(self.started_at), "ended_at": _at(self.ended_at),
                "detail": self.detail, "notes": list(self.notes),
                "turns": [t.as_json() for t in sorted(self.turns.values(),
                                                      key=lambda t: t.turn)],
                "calls": [c.as_json() for c in self.calls.values()]}


def dead_letter_view(letter: DeadLetter) -> dict[str, Any]:
    """Where a dead letter came from and why; never the record's bytes."""
    return {"reason": letter.reason.value, "error": clip(letter.error, 500),
            "source_topic": clip(letter.source_topic, 200),
            "source_partition": letter.source_partition, "source_offset": letter.source_offset,
            "call_id": clip(letter.call_id, 256), "worker_id": clip(letter.worker_id, 200),
            "value_length": letter.value_length, "dead_at": _at(letter.dead_at)}
