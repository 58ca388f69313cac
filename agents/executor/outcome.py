"""What running one call produced, before it becomes a ToolCallCompleted on the wire.

A result is usually needed only as bytes (for the ledger and the topic), so
:func:`completed_wire` writes them with orjson straight from the fields, where
building and encoding the model costs about 5.5 µs against 1.6. The fields
are listed once (:func:`_completed_fields`) for both, and a property test holds
the bytes to be the model's own; anything orjson cannot write the same way
(an int past 64 bits, say) goes through the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from async_toolformer.schemas import (
    DEFAULT_BRANCH,
    SCHEMA_VERSION,
    CallStatus,
    CallTimings,
    ToolCallCompleted,
    ToolCallRequested,
    ToolError,
    encode,
)

from .intake import Refusal

_MINUTE = timedelta(minutes=1)


@dataclass(slots=True)
class CallOutcome:
    """The end of one call: its status, output or error, and how long each part took."""

    status: CallStatus
    output: Any = None
    error: ToolError | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    retry_after_ms: int | None = None
    cache_age_ms: float | None = None  # set: answered from the result cache, this old

    @classmethod
    def failed(cls, status: CallStatus, kind: str, message: str, *,
               retryable: bool = False, attempts: int = 0,
               started_at: datetime | None = None) -> CallOutcome:
        return cls(status=status, error=ToolError(type=kind, message=message, retryable=retryable),
                   attempts=attempts, started_at=started_at)

    @classmethod
    def unserialisable(cls, tool: str, value: Any, reason: Exception, *, attempts: int,
                       started_at: datetime | None) -> CallOutcome:
        """The error a call ends in when what its tool returned cannot be written as JSON."""
        return cls.failed(
            CallStatus.ERROR, "UnserialisableOutput",
            f"{tool} returned {type(value).__name__}, which JSON cannot hold: {reason}",
            attempts=attempts, started_at=started_at)

    @classmethod
    def too_deep(cls, tool: str, *, attempts: int, started_at: datetime | None,
                 max_depth: int | None = None) -> CallOutcome:
        """The error a call ends in when its output is nested deeper than results may be."""
        bound = f"more than {max_depth}" if max_depth is not None else "too many"
        return cls.failed(CallStatus.ERROR, "OutputTooDeep",
                          f"{tool} returned a value nested {bound} levels deep",
                          attempts=attempts, started_at=started_at)

    @classmethod
    def too_large(cls, tool: str, size: int, max_bytes: int, *, attempts: int,
                  started_at: datetime | None) -> CallOutcome:
        """The error a call ends in when its result would not fit on the results topic."""
        return cls.failed(CallStatus.ERROR, "OutputTooLarge",
                          f"the result of {tool} is {size} bytes, over the limit of {max_bytes} "
                          "for the results topic", attempts=attempts, started_at=started_at)

    @classmethod
    def internal(cls, *, attempts: int = 0, started_at: datetime | None = None) -> CallOutcome:
        """The error a call ends in when the worker failed around it (Redis refused a
        script, say): the details are in the worker's log, not in the result."""
        return cls.failed(CallStatus.ERROR, "InternalError",
                          "the worker failed while handling this call; its log has the details",
                          retryable=True, attempts=attempts, started_at=started_at)


def completed_event(request: ToolCallRequested, outcome: CallOutcome, *, worker_id: str,
                    received_at: datetime) -> ToolCallCompleted:
    """The terminal result of ``request``; timings are measured from its receipt by the worker."""
    return ToolCallCompleted.model_validate(
        _completed_fields(request, outcome, worker_id, received_at))


def completed_wire(request: ToolCallRequested, outcome: CallOutcome, *, worker_id: str,
                   received_at: datetime) -> bytes:
    """``encode(completed_event(...))``, written without building the model."""
    fields = _completed_fields(request, outcome, worker_id, received_at)
    offset = request.requested_at.utcoffset()
    if offset is None or not offset % _MINUTE:  # the two round a part-minute apart
        try:
            # A copy of exactly its size: orjson's own bytes keep a 4 KiB buffer, held
            # by every result until it is published (400 MB per 100,000 at once).
            return bytes(memoryview(orjson.dumps(fields, option=orjson.OPT_UTC_Z)))
        except orjson.JSONEncodeError:  # e.g. a big int, or a str with a lone surrogate
            pass
    return encode(ToolCallCompleted.model_validate(fields))


def _completed_fields(request: ToolCallRequested, outcome: CallOutcome, worker_id: str,
                      received_at: datetime) -> dict[str, Any]:
    """The fields of the result in the model's order, as its JSON has them."""
    started = outcome.started_at
    finished = outcome.finished_at
    queue_end = started or finished
    error = outcome.error
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "tool_call_completed",
        "call_id": request.call_id,
        "session_id": request.session_id,
        "branch_id": request.branch_id,
        "tool": request.tool,
        "status": outcome.status,
        "output": outcome.output,
        "error": None if error is None else {
            "type": error.type, "message": error.message, "retryable": error.retryable},
        "attempts": outcome.attempts,
        "worker_id": worker_id,
        "timings": {
            "requested_at": request.requested_at,
            "received_at": received_at,
            "started_at": started,
            "finished_at": finished,
            "queue_ms": max(0.0, (queue_end - received_at).total_seconds() * 1000),
            "run_ms": max(0.0, (finished - started).total_seconds() * 1000) if started else 0.0,
        },
        "retry_after_ms": outcome.retry_after_ms,
        "cached": outcome.cache_age_ms is not None,
        "cache_age_ms": outcome.cache_age_ms,
    }


def rejected_event(
    refusal: Refusal, *, worker_id: str, received_at: datetime
) -> ToolCallCompleted | None:
    """The ``rejected`` answer to a refused call, or None when it cannot be addressed."""
    if refusal.call_id is None or refusal.session_id is None:
        return None
    return ToolCallCompleted(
        call_id=refusal.call_id,
        session_id=refusal.session_id,
        branch_id=refusal.branch_id or DEFAULT_BRANCH,
        tool=refusal.tool or "",
        status=CallStatus.REJECTED,
        error=ToolError(type=refusal.reason.value, message=refusal.error),
        worker_id=worker_id,
        timings=CallTimings(requested_at=received_at, received_at=received_at,
                            finished_at=received_at, queue_ms=0.0, run_ms=0.0),
    )
