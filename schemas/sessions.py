"""LLM sessions: the request (topic ``sessions``) and the journal (topic ``session-events``).

A session is a fold over its journal: every fact the session loop acted on is
written there before it is acknowledged (the request, each model turn, each tool
call the model proposed, each result, each deadline), followed by what the loop
decided (dispatches, branch decisions, the end). A worker that takes over a
partition re-folds the journal and carries on. Everything is keyed by
``session_id``, so a session's records share one partition on every topic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._base import Event, Identifier, utc_now
from .calls import DEFAULT_TENANT, ToolCallCompleted


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(_Value):
    """One message of the conversation a session starts from."""

    role: Literal["system", "user", "assistant"]
    content: str


class RaceGroup(_Value):
    """Calls of one turn to these tools race: the first acceptable result cancels the rest.

    A result is acceptable when its status is ``ok`` and ``scorer`` gives it at
    least ``min_score``. ``scorer`` is a built-in name (``ok``, ``output.score``)
    or an importable ``module:function`` taking a ToolCallCompleted, returning a float.
    """

    tools: tuple[str, ...] = Field(min_length=1)
    scorer: str = "ok"
    min_score: float = 0.0


MAX_DEADLINE_S = 7 * 24 * 3600.0


class SessionOptions(_Value):
    """How one session runs. Unset provider/model fall back to the worker's settings."""

    provider: Literal["openai", "anthropic"] | None = None
    model: str | None = None
    streaming: bool = True
    max_turns: int = Field(default=8, ge=1, le=100)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    # Finite and at most a week: an unbounded deadline would overflow the clock arithmetic
    # and keep a session open for good.
    session_deadline_s: float | None = Field(default=None, gt=0, le=MAX_DEADLINE_S,
                                             allow_inf_nan=False)
    branch_deadline_s: float | None = Field(default=None, gt=0, le=MAX_DEADLINE_S,
                                            allow_inf_nan=False,
                                            description="From a call's dispatch to its result.")
    call_deadline_s: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                          description="The executor's timeout of each call.")
    race: tuple[RaceGroup, ...] = ()
    keep_top_n: int | None = Field(default=None, ge=1,
                                   description="Per turn: once n acceptable results are in, "
                                   "cancel the rest; only the n best go back to the model.")
    scorer: str = Field(default="ok", description="Scores results for keep_top_n.")
    plan: bool = Field(default=False, description=(
        "Plan mode: the model writes its calls as a plan ($1 = tool(arg=$0.path)); each step "
        "starts as soon as its line is written and its inputs are in; the model is asked "
        "again only to answer or replan (docs/plans.md)."))


class SessionStarted(Event):
    """Start a session: a prompt (or whole conversation), the tools it may use, options."""

    type: Literal["session_started"] = "session_started"
    session_id: Identifier
    prompt: str | None = None
    messages: tuple[ChatMessage, ...] = ()
    tools: tuple[str, ...] = ()
    options: SessionOptions = SessionOptions()
    tenant: Identifier = DEFAULT_TENANT
    started_at: datetime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _has_input(self) -> SessionStarted:
        if self.prompt is None and not self.messages:
            raise ValueError("give a prompt or messages")
        return self


class SessionCancelRequested(Event):
    """Ask the worker running a session to end it (topic ``sessions``)."""

    type: Literal["session_cancel_requested"] = "session_cancel_requested"
    session_id: Identifier
    reason: str = "cancelled by the client"
    tenant: Identifier = Field(default=DEFAULT_TENANT,
                               description="Must be the session's tenant, or it is ignored.")
    at: datetime = Field(default_factory=utc_now)


class LLMTurnStarted(Event):
    """A model call began (``attempt`` > 1 when a resumed worker asks again)."""

    type: Literal["llm_turn_started"] = "llm_turn_started"
    session_id: Identifier
    turn: int = Field(ge=0)
    attempt: int = Field(default=1, ge=1)
    at: datetime = Field(default_factory=utc_now)


class ToolCallProposed(Event):
    """The model asked for a tool, its arguments complete (maybe mid-turn).

    ``arguments`` is None and ``error`` says why when they were not a JSON object.
    """

    type: Literal["tool_call_proposed"] = "tool_call_proposed"
    session_id: Identifier
    turn: int = Field(ge=0)
    index: int = Field(ge=0)
    llm_call_id: str
    tool: str
    arguments: dict[str, Any] | None = None
    raw_arguments: str = ""
    error: str | None = None
    at: datetime = Field(default_factory=utc_now)


class ToolCallDispatched(Event):
    """A proposed call was published on ``calls`` as ``call_id`` on ``branch_id``."""

    type: Literal["tool_call_dispatched"] = "tool_call_dispatched"
    session_id: Identifier
    turn: int = Field(ge=0)
    call_id: Identifier
    branch_id: Identifier
    tool: str
    at: datetime = Field(default_factory=utc_now)


class LLMToolCall(_Value):
    """A tool call as it stays in the conversation history."""

    llm_call_id: str
    tool: str
    raw_arguments: str


class TokenUsage(_Value):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class LLMTurnCompleted(Event):
    type: Literal["llm_turn_completed"] = "llm_turn_completed"
    session_id: Identifier
    turn: int = Field(ge=0)
    text: str = ""
    tool_calls: tuple[LLMToolCall, ...] = ()
    finish_reason: str = "stop"
    usage: TokenUsage = TokenUsage()
    llm_ms: float = Field(default=0.0, ge=0)
    at: datetime = Field(default_factory=utc_now)


class LLMTurnFailed(Event):
    """The model call failed for good (retries spent, or credentials refused)."""

    type: Literal["llm_turn_failed"] = "llm_turn_failed"
    session_id: Identifier
    turn: int = Field(ge=0)
    error: str
    auth: bool = False
    at: datetime = Field(default_factory=utc_now)


class ToolResultReceived(Event):
    """A result of one of the session's calls, as read from ``results``."""

    type: Literal["tool_result_received"] = "tool_result_received"
    session_id: Identifier
    result: ToolCallCompleted
    at: datetime = Field(default_factory=utc_now)


class DeadlineReached(Event):
    """A session or branch deadline passed (``branch_id`` set for a branch)."""

    type: Literal["deadline_reached"] = "deadline_reached"
    session_id: Identifier
    scope: Literal["session", "branch"]
    branch_id: str | None = None
    at: datetime = Field(default_factory=utc_now)


class BranchDecision(Event):
    """What a cancellation strategy decided for one branch, and why."""

    type: Literal["branch_decision"] = "branch_decision"
    session_id: Identifier
    branch_id: Identifier
    call_id: Identifier
    decision: Literal["won", "kept", "cancelled", "discarded"]
    reason: str
    score: float | None = None
    saved_ms: float = Field(default=0.0, ge=0)
    at: datetime = Field(default_factory=utc_now)


class SpeculativeCallRan(Event):
    """A call the worker ran early for this session, on a prediction of its next turn.

    Its result went to the result cache only, never to ``results``. ``used``: the
    session then asked for the same call (tool and arguments), as ``call_id``, and
    ``saved_ms`` is the run time it did not wait for; otherwise the run was wasted
    (``status`` says how it ended: a tool status, or ``cancelled`` when the session
    moved on or ended first, or a real call needed its place).
    """

    type: Literal["speculative_call_ran"] = "speculative_call_ran"
    session_id: Identifier
    tool: str = Field(min_length=1, max_length=256)
    arguments_digest: str = Field(max_length=64)
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    source: str = Field(default="", max_length=200)
    status: str = Field(max_length=32)
    used: bool = False
    call_id: str | None = Field(default=None, max_length=256)
    run_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    saved_ms: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    started_at: datetime
    at: datetime = Field(default_factory=utc_now)


class SessionTimings(_Value):
    """Where the time went, in milliseconds.

    ``sequential_tool_ms`` is what the calls would have cost one after another
    (the sum of their run times); ``speedup`` compares model time plus that sum
    with the wall time; ``saved_tool_ms`` is the budget (call deadline or tool
    timeout) cancelled calls did not spend, an upper bound of what was saved.
    """

    llm_ms: float = Field(ge=0)
    tool_ms: float = Field(ge=0, description="Waiting for tools after the model's turn ended.")
    wall_ms: float = Field(ge=0)
    sequential_tool_ms: float = Field(ge=0)
    speedup: float = Field(ge=0)
    saved_tool_ms: float = Field(default=0.0, ge=0)
    speculation_saved_ms: float = Field(
        default=0.0, ge=0, description="Tool time the session did not wait for because its "
        "calls had already run speculatively (the sum of its used runs' saved_ms).")


class SessionCompleted(Event):
    type: Literal["session_completed"] = "session_completed"
    session_id: Identifier
    answer: str
    stop_reason: Literal["answer", "max_turns", "deadline"] = "answer"
    turns: int = Field(ge=0)
    calls: int = Field(ge=0)
    usage: TokenUsage
    timings: SessionTimings
    at: datetime = Field(default_factory=utc_now)


class SessionFailed(Event):
    type: Literal["session_failed"] = "session_failed"
    session_id: Identifier
    reason: Literal["invalid_request", "llm_error", "llm_auth", "cancelled", "internal",
                    "forbidden"]
    error: str
    at: datetime = Field(default_factory=utc_now)


class JournalMarker(Event):
    """Written by a worker to a journal partition to know where that partition ends.

    Brokers may report a partition's end late (docs/broker.md), so a worker that
    re-folds a partition reads up to the offset of its own marker instead.
    """

    type: Literal["journal_marker"] = "journal_marker"
    worker_id: str
    nonce: str
    at: datetime = Field(default_factory=utc_now)


SessionEvent = Annotated[
    SessionStarted | SessionCancelRequested | LLMTurnStarted | ToolCallProposed
    | ToolCallDispatched | LLMTurnCompleted | LLMTurnFailed | ToolResultReceived
    | DeadlineReached | BranchDecision | SessionCompleted | SessionFailed | JournalMarker
    | SpeculativeCallRan,
    Field(discriminator="type"),
]
"""Anything on ``sessions`` or ``session-events``."""

SessionEnd = SessionCompleted | SessionFailed

SESSION_EVENTS: tuple[type[Event], ...] = (
    SessionStarted, SessionCancelRequested, LLMTurnStarted, ToolCallProposed,
    ToolCallDispatched, LLMTurnCompleted, LLMTurnFailed, ToolResultReceived, DeadlineReached,
    BranchDecision, SessionCompleted, SessionFailed, JournalMarker, SpeculativeCallRan,
)
