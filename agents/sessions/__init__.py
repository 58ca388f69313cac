"""LLM sessions: the pure state machine, cancellation strategies, and the agents that run it.

A session is a fold over its journal: :meth:`SessionMachine.apply` takes a state
and an event and returns the next state and the commands to carry out (call the
model, dispatch a call, cancel a branch, arm a timer, journal a decision). The
:class:`SessionRuntime` carries them out; :class:`SessionAgent` feeds it from
Faust streams. Unit tests drive the machine alone::

    machine = SessionMachine(RegistryCatalogue(registry))
    state, commands = machine.apply(None, SessionStarted(session_id="s", prompt="hi"))
    # commands == [CallModel(session_id="s", turn=0, attempt=1, ...)]
"""

from .agent import SessionAgent
from .catalogue import RegistryCatalogue, ToolCatalogue
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
from .exceptions import SessionError, UnknownScorerError
from .intake import SessionRefusal, SessionRequest, admit_session
from .machine import SessionMachine, Step
from .ports import (
    Drive,
    Feed,
    JournalSource,
    MemoryOutbox,
    ProviderSource,
    RecordSink,
    SessionTopics,
    TurnGuard,
)
from .runtime import SessionRuntime
from .scoring import BUILTIN_SCORERS, Scorer, resolve_scorer
from .state import CallState, SessionState, Settled, TurnState
from .turns import drive_turn

__all__ = [
    "BUILTIN_SCORERS",
    "ArmTimer",
    "CallModel",
    "CallState",
    "CancelBranch",
    "CancelSession",
    "Close",
    "Drive",
    "Feed",
    "Command",
    "DispatchCall",
    "JournalSource",
    "MemoryOutbox",
    "ProviderSource",
    "Record",
    "RecordSink",
    "RegistryCatalogue",
    "Scorer",
    "SessionAgent",
    "SessionError",
    "SessionMachine",
    "SessionRefusal",
    "SessionRequest",
    "SessionRuntime",
    "SessionState",
    "SessionTopics",
    "Settled",
    "Step",
    "StopModel",
    "ToolCatalogue",
    "TurnGuard",
    "TurnState",
    "UnknownScorerError",
    "admit_session",
    "drive_turn",
    "resolve_scorer",
]
