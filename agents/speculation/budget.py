"""What speculation may start: which predictions qualify, and how much room they get.

Pure decisions for the worker's speculation runtime. A prediction comes from a
predictor that learned from what sessions sent, so it is treated as hostile
input: only the first few are looked at, and one qualifies only for a known
tool declared read-only and idempotent with a cache lifetime, with a confidence
in [0, 1] and arguments within the size and depth bounds that its tool's own
validation accepts. What qualifies then runs only within its budget: a share
of the worker's capacity, a share of the tool's cap, a few per session.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..exceptions import InvalidArgumentsError
from ..executor.cache_keys import CacheKey, Uncacheable, cache_key_of
from ..policy import Policy
from ..tools import ToolSpec
from .protocol import Prediction

__all__ = ["Candidate", "SpeculationBudget", "SpeculationLimits", "may_speculate", "screen"]

MAX_TOOL_NAME = 256


@dataclass(frozen=True, slots=True)
class SpeculationLimits:
    """The bounds of speculation in one worker (settings ``TOOLFORMER_SPECULATION_*``)."""

    share: float = 0.2
    """Of the worker's ``max_in_flight`` and of each tool's cap, what speculation may hold."""
    max_in_flight: int = 64
    """Speculative runs at once in the worker, whatever the share allows."""
    max_per_session: int = 8
    """Speculative runs at once for one session."""
    max_per_result: int = 4
    """Predictions started after one result (the most confident first)."""
    max_looked_at: int = 32
    """Predictions looked at after one result; the rest of a longer list is ignored."""
    max_argument_bytes: int = 16_384
    """A prediction's arguments as JSON; longer ones are not run."""
    max_argument_depth: int = 16
    """Nesting of a prediction's arguments; deeper ones are not run."""
    rate_reserve: float = 0.5
    """A speculative call is admitted by a rate limit only if, after it, at least this
    fraction of the limit's capacity is still free for real calls."""

    def __post_init__(self) -> None:
        if not (0.0 < self.share <= 1.0):
            raise ValueError(f"share must be in (0, 1], not {self.share}")
        if not (0.0 <= self.rate_reserve < 1.0):
            raise ValueError(f"rate_reserve must be in [0, 1), not {self.rate_reserve}")
        for name in ("max_in_flight", "max_per_session", "max_per_result", "max_looked_at",
                     "max_argument_bytes", "max_argument_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def worker_cap(self, worker_max_in_flight: int) -> int:
        """Speculative runs at once where real calls are capped at ``worker_max_in_flight``."""
        return max(1, min(self.max_in_flight, math.floor(self.share * worker_max_in_flight)))

    def tool_cap(self, cap: int | None) -> int | None:
        """Speculative runs at once of a tool capped at ``cap`` (None: no cap of its own).

        At least one: a real call that finds the cap full preempts it.
        """
        return None if cap is None else max(1, math.floor(self.share * cap))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A prediction that qualified: its tool, validated arguments and their cache key."""

    spec: ToolSpec
    arguments: dict[str, Any]
    key: CacheKey
    confidence: float
    source: str

    @property
    def tool(self) -> str:
        return self.spec.name


def may_speculate(spec: ToolSpec) -> bool:
    """Only a tool declared read-only and idempotent, with results worth caching, runs early."""
    return (spec.read_only and spec.idempotent and spec.cache_ttl_s is not None
            and spec.cache_ttl_s > 0)


def screen(predictions: object, tenant: str, spec_of: Callable[[str], ToolSpec | None],
           limits: SpeculationLimits, *, policy: Policy | None = None
           ) -> tuple[list[Candidate], Counter[str]]:
    """The predictions that may run, most confident first, and why the others may not;
    with a ``policy``, only tools ``tenant`` may call (as its real calls are checked)."""
    refused: Counter[str] = Counter()
    if not isinstance(predictions, Sequence) or isinstance(predictions, str | bytes):
        refused["not_a_list"] += 1
        return [], refused
    found: dict[tuple[str, str], Candidate] = {}
    for index, prediction in enumerate(predictions):
        if index >= limits.max_looked_at:
            refused["too_many"] += len(predictions) - index
            break
        verdict = _candidate(prediction, tenant, spec_of, limits, policy)
        if isinstance(verdict, str):
            refused[verdict] += 1
            continue
        key = (verdict.tool, verdict.key.digest)
        if key in found:
            refused["duplicate"] += 1
            continue
        found[key] = verdict
    ranked = sorted(found.values(), key=lambda c: -c.confidence)
    if len(ranked) > limits.max_per_result:
        refused["over_budget"] += len(ranked) - limits.max_per_result
    return ranked[:limits.max_per_result], refused


def _candidate(prediction: object, tenant: str, spec_of: Callable[[str], ToolSpec | None],
               limits: SpeculationLimits, policy: Policy | None) -> Candidate | str:
    """The candidate, or the reason (a metric label) it may not run."""
    if not isinstance(prediction, Prediction):
        return "not_a_prediction"
    # Typed, but made by code that learned from what producers sent: checked as it is.
    tool: object = prediction.tool
    arguments: object = prediction.arguments
    confidence: object = prediction.confidence
    if not isinstance(tool, str) or not 0 < len(tool) <= MAX_TOOL_NAME:
        return "bad_tool"
    if (isinstance(confidence, bool) or not isinstance(confidence, int | float)
            or not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0):
        return "bad_confidence"
    spec = spec_of(tool)
    if spec is None:
        return "unknown_tool"
    if not may_speculate(spec):
        return "not_read_only"
    if policy is not None and policy.call_problem(tenant, spec.name, spec.service) is not None:
        return "not_allowed"
    if not isinstance(arguments, dict):
        return "bad_arguments"
    if not _within(arguments, limits.max_argument_depth):
        return "too_deep"
    try:
        size = len(orjson.dumps(arguments))
    except (orjson.JSONEncodeError, TypeError):
        return "bad_arguments"
    if size > limits.max_argument_bytes:
        return "too_large"
    try:
        validated = spec.validate(arguments)
    except InvalidArgumentsError:
        return "invalid_arguments"
    key = cache_key_of(tenant, spec, arguments)
    if isinstance(key, Uncacheable):
        return f"uncacheable_{key.reason}"[:40]
    source = prediction.source if isinstance(prediction.source, str) else ""
    return Candidate(spec, validated, key, float(confidence), source[:200])


def _within(value: object, depth: int) -> bool:
    """Whether ``value`` nests no deeper than ``depth`` (iterative: no recursion limit)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > depth:
            return False
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, level + 1) for v in item)
    return True


@dataclass(slots=True)
class SpeculationBudget:
    """Counts speculative runs in flight: worker-wide, per tool and per session."""

    limits: SpeculationLimits
    worker_max_in_flight: int
    running: int = 0
    by_tool: dict[str, int] = field(default_factory=dict)
    by_session: dict[str, int] = field(default_factory=dict)

    def refusal(self, tool: str, session_id: str, tool_cap: int | None) -> str | None:
        """Why one more run of ``tool`` for ``session_id`` may not start now (None: it may)."""
        if self.running >= self.limits.worker_cap(self.worker_max_in_flight):
            return "worker_share"
        if self.by_session.get(session_id, 0) >= self.limits.max_per_session:
            return "session_share"
        share = self.limits.tool_cap(tool_cap)
        if share is not None and self.by_tool.get(tool, 0) >= share:
            return "tool_share"
        return None

    def start(self, tool: str, session_id: str) -> None:
        self.running += 1
        self.by_tool[tool] = self.by_tool.get(tool, 0) + 1
        self.by_session[session_id] = self.by_session.get(session_id, 0) + 1

    def end(self, tool: str, session_id: str) -> None:
        self.running -= 1
        _down(self.by_tool, tool)
        _down(self.by_session, session_id)


def _down(counts: dict[str, int], key: str) -> None:
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)
