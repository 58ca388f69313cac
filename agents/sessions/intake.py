"""Deciding what to do with one record of the ``sessions`` topic. Pure: bytes in, verdict out.

Bad requests are refused with a dead-letter reason and, when a session id can
be read (from the JSON or the record key), the session is told it failed, so
whoever waits for it is not left hanging.

A session id is used only once it could name a session (1-256 printable
characters: :func:`usable_id`); a refusal without one is a dead letter only.
A request is bounded before it is folded, since its journal copy must fit on
``session-events`` and its conversation is sent to a model
(:class:`SessionLimits`). A request its tenant's policy does not allow (tools,
provider, model, ceilings, strategies) is refused ``forbidden``; one that asks
for no max_tokens gets its tenant's ceiling.
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

from ..executor.limits import clip, usable_id
from ..policy import SessionPolicy
from .catalogue import ToolCatalogue
from .exceptions import UnknownScorerError
from .scoring import resolve_scorer

__all__ = ["SessionLimits", "SessionRefusal", "SessionRequest", "admit_session"]

SessionRequest = SessionStarted | SessionCancelRequested
_REQUEST: TypeAdapter[SessionRequest] = TypeAdapter(
    Annotated[SessionStarted | SessionCancelRequested, Field(discriminator="type")])


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Bounds on one session request: its size, its conversation, what it may ask a model for."""

    max_bytes: int = 524_288  # its journal copy must fit under the broker's message limit
    max_messages: int = 1_000
    max_tokens: int = 1_000_000


_DEFAULT_LIMITS = SessionLimits()


@dataclass(frozen=True, slots=True)
class SessionRefusal:
    reason: DeadLetterReason
    error: str
    session_id: str | None = None


def admit_session(raw: bytes | None, key: bytes | None, catalogue: ToolCatalogue,
                  limits: SessionLimits = _DEFAULT_LIMITS, *,
                  policy: SessionPolicy | None = None) -> SessionRequest | SessionRefusal:
    """The request in ``raw``, or why it cannot start (``policy`` None: anything goes)."""
    keyed = _text(key)
    if raw is None:
        return SessionRefusal(DeadLetterReason.UNDECODABLE, "the record has no value", keyed)
    try:
        data = loads(raw)
    except UndecodableError as exc:
        return SessionRefusal(DeadLetterReason.UNDECODABLE, clip(str(exc)), keyed)
    session_id = _session_id(data) or keyed
    if len(raw) > limits.max_bytes:
        return SessionRefusal(DeadLetterReason.TOO_LARGE, f"the record is {len(raw)} bytes, "
                              f"over the limit of {limits.max_bytes}", session_id)
    try:
        request = _REQUEST.validate_python(data)
    except ValidationError as exc:
        message = str(InvalidEventError(_describe(exc)))
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, clip(message), session_id)
    if usable_id(request.session_id) is None:
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, "session_id: must be printable "
                              "text without control characters", keyed)
    if isinstance(request, SessionCancelRequested):
        return request
    problem = _over_limits(request, limits)
    if problem is not None:
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, problem, request.session_id)
    unknown = [name for name in request.tools if not catalogue.knows(name)]
    if unknown:
        return SessionRefusal(DeadLetterReason.UNKNOWN_TOOL,
                              clip(f"the session asks for tools this worker does not have: "
                                   f"{', '.join(unknown)}"), request.session_id)
    options = request.options
    try:
        for name in {options.scorer, *(group.scorer for group in options.race)}:
            resolve_scorer(name)
    except UnknownScorerError as exc:
        return SessionRefusal(DeadLetterReason.INVALID_EVENT, clip(f"bad options: {exc}"),
                              request.session_id)
    if policy is not None:
        allowed = policy.admit(request)
        if isinstance(allowed, str):
            return SessionRefusal(DeadLetterReason.FORBIDDEN, clip(allowed), request.session_id)
        return allowed
    return request


def _over_limits(request: SessionStarted, limits: SessionLimits) -> str | None:
    if len(request.messages) > limits.max_messages:
        return (f"messages: {len(request.messages)} messages, over the limit of "
                f"{limits.max_messages}")
    max_tokens = request.options.max_tokens
    if max_tokens is not None and max_tokens > limits.max_tokens:
        return f"options.max_tokens: {max_tokens} is over the limit of {limits.max_tokens}"
    return None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _session_id(data: Any) -> str | None:
    return usable_id(data.get("session_id")) if isinstance(data, dict) else None


def _text(key: bytes | None) -> str | None:
    if not key or len(key) > 1024:
        return None
    try:
        return usable_id(key.decode())
    except UnicodeDecodeError:
        return None
