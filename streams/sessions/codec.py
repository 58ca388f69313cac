"""Decoding records of ``sessions`` and ``session-events``."""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from async_toolformer.schemas import InvalidEventError, SessionEvent, loads

__all__ = ["decode_session_event"]

_ADAPTER: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)


def decode_session_event(raw: bytes) -> SessionEvent:
    """A session event by its ``type``; raises a SchemaError for anything else."""
    data = loads(raw)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidEventError(f"not a session event: {exc.error_count()} problems") from exc
