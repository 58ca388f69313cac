"""What the session machine asks its runtime to do. Plain values, no behaviour.

The machine decides; the runtime (the Faust agents' side) carries these out:
call the model, publish calls and cancellations, arm timers, journal decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from async_toolformer.schemas import DEFAULT_TENANT, SessionOptions, ToolCallRequested
from async_toolformer.schemas._base import Event

from ..providers import TurnRequest

__all__ = [
    "ArmTimer",
    "CallModel",
    "CancelBranch",
    "CancelSession",
    "Close",
    "Command",
    "DispatchCall",
    "Record",
    "StopModel",
]


@dataclass(frozen=True, slots=True)
class CallModel:
    """Run model turn ``turn``; feed its proposals and its end back as events."""

    session_id: str
    turn: int
    attempt: int
    request: TurnRequest
    options: SessionOptions
    tenant: str = DEFAULT_TENANT  # whose limits and ledger entry the turn is


@dataclass(frozen=True, slots=True)
class DispatchCall:
    """Publish a tool call on ``calls``."""

    request: ToolCallRequested


@dataclass(frozen=True, slots=True)
class CancelBranch:
    """Publish BranchCancelled on ``cancellations`` so executors stop the branch."""

    session_id: str
    branch_id: str
    reason: str
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class CancelSession:
    """Publish SessionCancelled: every call of the session stops."""

    session_id: str
    reason: str
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class StopModel:
    """Stop a model turn in progress (the session is over)."""

    session_id: str


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Feed DeadlineReached(scope, branch_id) back at ``due_at`` (wall clock)."""

    session_id: str
    scope: Literal["session", "branch"]
    branch_id: str | None
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Record:
    """Write a decision to the journal (dispatches, branch decisions, the end)."""

    event: Event


@dataclass(frozen=True, slots=True)
class Close:
    """The session is over: drop its state, timers and model task."""

    session_id: str


Command = (CallModel | DispatchCall | CancelBranch | CancelSession | StopModel | ArmTimer | Record
           | Close)
