"""Tool-call requests and their terminal results (topics ``calls`` and ``results``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._base import Event, Identifier, utc_now

DEFAULT_BRANCH = "main"
DEFAULT_TENANT = "default"
MAX_CACHE_AGE_MS = 86_400_000.0  # a cached result lives at most a day (a tool's cache_ttl_s)


class CallStatus(StrEnum):
    """How a call ended. Every call ends in exactly one of these."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    INDETERMINATE = "indeterminate"


class ToolCallRequested(Event):
    """Ask a worker to run one tool. Keyed by ``session_id`` on ``calls``."""

    type: Literal["tool_call_requested"] = "tool_call_requested"
    call_id: Identifier
    session_id: Identifier
    branch_id: Identifier = DEFAULT_BRANCH
    tool: Identifier
    arguments: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(
        default=None, gt=0, allow_inf_nan=False,
        description="Overrides the tool's timeout; the worker clamps it to the tool's "
                    "max_timeout_s and its own TOOLFORMER_MAX_TIMEOUT_S.")
    tenant: Identifier = DEFAULT_TENANT
    requested_at: datetime = Field(default_factory=utc_now)
    metadata: dict[str, str] = Field(default_factory=dict)
    depends_on: list[Identifier] = Field(
        default_factory=list, max_length=32,
        description="Calls of the same session whose results this call waits for; its "
                    'arguments may take values from them with {"$ref": call_id, "path": '
                    '"results[0].url"} objects (docs/plans.md).')
    cache: Literal["use", "bypass"] = Field(
        default="use",
        description="use: a tool that declares cache_ttl_s may answer from a fresh result of "
                    "an identical call (same tenant, tool, validated arguments); bypass: run "
                    "it, without reading, joining or writing the cache.")


class ToolError(BaseModel):
    """A structured error: what went wrong and whether trying again may help."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description=(
        "What went wrong. Refusals by the worker (status rejected) include: forbidden (the "
        "tenant's policy does not allow it), Conflict (the call_id belongs to another call: "
        "another tenant, session, tool or arguments), unknown_tool, invalid_arguments, "
        "too_large; a tool's own failure carries its exception's name."))
    message: str
    retryable: bool = False


class CallTimings(BaseModel):
    """Where the time of one call went, in milliseconds since ``requested_at``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requested_at: datetime
    received_at: datetime
    started_at: datetime | None = None
    finished_at: datetime
    queue_ms: float = Field(ge=0, description="From receipt to the first attempt.")
    run_ms: float = Field(ge=0, description="From the first attempt to the end.")


class ToolCallCompleted(Event):
    """The one terminal result of a call. Keyed by ``session_id`` on ``results``."""

    type: Literal["tool_call_completed"] = "tool_call_completed"
    call_id: Identifier
    session_id: Identifier
    branch_id: Identifier = DEFAULT_BRANCH
    tool: str
    status: CallStatus
    output: Any = None
    error: ToolError | None = None
    attempts: int = Field(default=0, ge=0)
    worker_id: str
    timings: CallTimings
    retry_after_ms: int | None = Field(default=None, ge=0)
    cached: bool = Field(default=False, description=(
        "Answered from the result cache: the output of an earlier identical call, not a run."))
    cache_age_ms: float | None = Field(
        default=None, ge=0, le=MAX_CACHE_AGE_MS, allow_inf_nan=False,
        description="How old the cached output was when it answered (None unless cached).")

    @property
    def ok(self) -> bool:
        return self.status is CallStatus.OK
