"""Deciding what to do with one record of the ``sessions`` topic. Pure: bytes in, verdict out.

Bad requests are refused with a dead-letter reason and, when a session id can
be read (from the JSON or the record key), the session is told it failed, so
whoever waits for it is not left hanging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from async_toolformer.schemas import (
    DeadLetterReason,
    InvalidEventError,
    SessionCancelRequested,
    SessionStarted,
    UndecodableError,
    loads,
)

from .catalogue import ToolCatalogue
from .exceptions import UnknownScorerError
from .scoring import resolve_scorer

__all__ = ["SessionRefusal", "SessionRequest", "admit_session"]

SessionRequest = SessionStarted | SessionCancelRequested
_REQUEST: TypeAdapter[SessionRequest] = TypeAdapter(
    Annotated[SessionStarted | SessionCancelRequested, Field(discriminator="type")])


@dataclass(frozen=True, slots=True)
class SessionRefusal:
    reason: DeadLetterReason
    error: str
    session_id: str | None = None


def admit_session(raw: bytes | None, key: bytes | None,
                  catalogue: ToolCatalogue) -> SessionRequest | SessionRefusal:
    """The request in ``raw``, or why it cannot start."""
    keyed = _text(key)
    if raw is None:
        return SessionRefusal(DeadLetterReason.UNDECODABLE, "the record has no value", keyed)
    try:
        data = loads(raw)
    except UndecodableError as exc:
        return SessionRefusal(DeadLetterReason.UNDECODABLE, str(exc), keyed)
    session_id = _session_id(data) or keyed
    try:
        request = _REQUEST.validate_python(data)
    except ValidationError as exc:
        message = str(InvalidEventError(_describe(exc)))
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, message, session_id)
    if isinstance(request, SessionCancelRequested):
        return request
    unknown = [name for name in request.tools if not catalogue.knows(name)]
    if unknown:
        return SessionRefusal(DeadLetterReason.UNKNOWN_TOOL,
                              f"the session asks for tools this worker does not have: "
                              f"{', '.join(unknown)}", request.session_id)
    options = request.options
    try:
        for name in {options.scorer, *(group.scorer for group in options.race)}:
            resolve_scorer(name)
    except UnknownScorerError as exc:
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, f"bad options: {exc}",
                              request.session_id)
    return request


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _session_id(data: Any) -> str | None:
    if isinstance(data, dict):
        value = data.get("session_id")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        return key.decode() or None
    except UnicodeDecodeError:
        return None
