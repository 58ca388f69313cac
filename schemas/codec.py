"""The wire format: JSON through orjson, events told apart by their ``type`` field.

Decoding separates the two ways input goes wrong, because they are answered
differently: bytes that are not JSON (:class:`UndecodableError`) and JSON that is
not a valid event (:class:`InvalidEventError`). Both carry whatever ``call_id``
could be read, so a caller can still be told its call was rejected.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from .calls import ToolCallCompleted, ToolCallRequested
from .cancellations import BranchCancelled, SessionCancelled
from .dead_letters import DeadLetter
from .exceptions import InvalidEventError, UndecodableError
from .sessions import (
    BranchDecision,
    DeadlineReached,
    JournalMarker,
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionCancelRequested,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    SessionStarted,
    SpeculativeCallRan,
    ToolCallDispatched,
    ToolCallProposed,
    ToolResultReceived,
)

AnyEvent = Annotated[
    ToolCallRequested | ToolCallCompleted | BranchCancelled | SessionCancelled | DeadLetter
    | SessionStarted | SessionCancelRequested | LLMTurnStarted | ToolCallProposed
    | ToolCallDispatched | LLMTurnCompleted | LLMTurnFailed | ToolResultReceived
    | DeadlineReached | BranchDecision | SessionCompleted | SessionFailed | JournalMarker
    | SpeculativeCallRan,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
_SESSION_EVENT_ADAPTER: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)

M = TypeVar("M", bound=BaseModel)


def encode(event: BaseModel) -> bytes:
    """Serialise an event to compact JSON bytes (pydantic-core writes them in one pass)."""
    return event.__pydantic_serializer__.to_json(event)


def loads(raw: bytes) -> Any:
    """Parse JSON bytes, raising :class:`UndecodableError` with the reason."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableError(f"not valid JSON: {exc}") from exc


def decode(raw: bytes) -> AnyEvent:
    """Parse any event by its ``type`` field."""
    data = loads(raw)
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidEventError(_describe(exc), call_id=_call_id_of(data)) from exc


def decode_session_event(raw: bytes) -> SessionEvent:
    """A record of ``sessions`` or ``session-events``, by its ``type``."""
    data = loads(raw)
    try:
        return _SESSION_EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidEventError(f"not a session event: {_describe(exc)}") from exc


def decode_as(model: type[M], raw: bytes) -> M:
    """Parse bytes that must be one event model.

    The model's validator is called directly: ``model_validate`` only passes its
    defaults on, for a fifth of the cost of validating a tool-call request.
    """
    data = loads(raw)
    try:
        validated: M = model.__pydantic_validator__.validate_python(data)
    except ValidationError as exc:
        raise InvalidEventError(_describe(exc), call_id=_call_id_of(data)) from exc
    return validated


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _call_id_of(data: Any) -> str | None:
    if isinstance(data, dict):
        call_id = data.get("call_id")
        if isinstance(call_id, str) and call_id.strip():
            return call_id
    return None
