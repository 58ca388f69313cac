"""Deciding what to do with one record from the ``calls`` topic, before anything runs.

Pure: bytes in, a verdict out. Input that cannot run becomes a :class:`Refusal`
carrying the dead-letter reason and, when the call can be identified, enough to
answer the caller with a ``rejected`` result so nobody waits forever.

Every identifier a refusal carries has passed :func:`usable_id` (a call_id of
300 characters, a blank or binary key, an id with control characters do not):
one that did not leaves the refusal without it, so the record becomes a dead
letter only. Arguments are bounded in depth and number of values
(:class:`CallLimits`) before any tool sees them. A call its tenant's policy
does not allow is refused ``forbidden`` before its arguments are looked at.
A call with ``depends_on`` has its references checked here (grammar, bounds,
each naming a listed input, no self-dependency) and, if it has any, its
arguments validated only once they are resolved (:mod:`.dependencies`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from async_toolformer.schemas import (
    DeadLetterReason,
    InvalidEventError,
    ToolCallRequested,
    UndecodableError,
    decode_as,
    loads,
)

from ..exceptions import InvalidArgumentsError, UnknownToolError
from ..plans import PlanError, check_dependencies
from ..policy import Policy
from ..tools import ToolRegistry, ToolSpec
from .limits import CallLimits, clip, shape_problem, usable_id

_DEFAULT_LIMITS = CallLimits()


@dataclass(frozen=True, slots=True)
class Admission:
    """A call that may run: the request, its tool and its validated arguments."""

    request: ToolCallRequested
    spec: ToolSpec
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refusal:
    """A record that will not run, and why."""

    reason: DeadLetterReason
    error: str
    call_id: str | None = None
    session_id: str | None = None
    branch_id: str | None = None
    tool: str | None = None
    # The decoded call, when it got that far: its answer is then recorded under its
    # fingerprint like any result, so the session that sent it takes it.
    request: ToolCallRequested | None = None


def admit(raw: bytes | None, key: bytes | None, registry: ToolRegistry, *,
          max_bytes: int, limits: CallLimits = _DEFAULT_LIMITS,
          policy: Policy | None = None) -> Admission | Refusal:
    """Decode, check size, find the tool, ask the policy and validate the arguments of one
    record (``policy`` None: every tenant may call every tool)."""
    session = _text(key)
    if raw is None:
        return Refusal(DeadLetterReason.UNDECODABLE, "the record has no value", session_id=session)
    if len(raw) > max_bytes:
        return Refusal(DeadLetterReason.TOO_LARGE,
                       f"the record is {len(raw)} bytes, over the limit of {max_bytes}",
                       call_id=_call_id_in(raw), session_id=session)
    try:
        request = decode_as(ToolCallRequested, raw)
    except UndecodableError as exc:
        return Refusal(DeadLetterReason.UNDECODABLE, clip(str(exc)), session_id=session)
    except InvalidEventError as exc:
        return Refusal(DeadLetterReason.INVALID_EVENT, clip(str(exc)),
                       call_id=usable_id(exc.call_id), session_id=session)
    unusable = [name for name in ("call_id", "session_id", "branch_id", "tool")
                if usable_id(getattr(request, name)) is None]
    if unusable:  # control characters: nothing can be answered under such a name
        return Refusal(DeadLetterReason.INVALID_EVENT,
                       f"{', '.join(unusable)}: must be printable text without control "
                       "characters", session_id=session)
    try:
        spec = registry.get(request.tool)
    except UnknownToolError as exc:
        return _refused(DeadLetterReason.UNKNOWN_TOOL, str(exc), request)
    if policy is not None:
        forbidden = policy.call_problem(request.tenant, spec.name, spec.service)
        if forbidden is not None:
            return _refused(DeadLetterReason.FORBIDDEN, forbidden, request)
    problem = shape_problem(request.arguments, max_depth=limits.max_depth,
                            max_items=limits.max_argument_items)
    if problem is not None:
        return _refused(DeadLetterReason.INVALID_ARGUMENTS, f"{spec.name}: arguments: {problem}",
                        request)
    dependent = _dependent(request, spec) if request.depends_on else None
    if dependent is not None:
        return dependent
    try:
        arguments = spec.validate(request.arguments)
    except InvalidArgumentsError as exc:
        return _refused(DeadLetterReason.INVALID_ARGUMENTS, f"{spec.name}: {exc}", request)
    return Admission(request, spec, arguments)


def _dependent(request: ToolCallRequested, spec: ToolSpec) -> Admission | Refusal | None:
    """A call with inputs: refused for bad references; admitted unvalidated if it has any
    (its arguments are validated once resolved); None to validate them now."""
    try:
        if check_dependencies(request.call_id, request.depends_on, request.arguments):
            return Admission(request, spec, request.arguments)
    except PlanError as exc:
        return _refused(DeadLetterReason.INVALID_ARGUMENTS, f"{spec.name}: depends_on: {exc}",
                        request)
    return None


def _refused(reason: DeadLetterReason, error: str, request: ToolCallRequested) -> Refusal:
    return Refusal(reason, clip(error), call_id=request.call_id, session_id=request.session_id,
                   branch_id=request.branch_id, tool=request.tool, request=request)


def _call_id_in(raw: bytes) -> str | None:
    try:
        data = loads(raw)
    except UndecodableError:
        return None
    return usable_id(data.get("call_id")) if isinstance(data, dict) else None


def _text(key: bytes | None) -> str | None:
    """The record key as a session id, if it can be one."""
    if not key or len(key) > 1024:
        return None
    try:
        return usable_id(key.decode())
    except UnicodeDecodeError:
        return None
