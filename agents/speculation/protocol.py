"""What a speculation predictor is: the seam the worker's speculation runtime codes against.

A predictor watches a session's calls and results and proposes the calls its next
turn is likely to make. The runtime starts the proposals it may (read-only tools,
under a budget) and reports back whether each speculative result was used, which is
what adapts the confidence threshold. Predictors are pluggable: anything with these
methods will do; :class:`~.transition.TransitionPredictor` is the first.

Every method is synchronous, cheap and bounded: the runtime calls them on the hot
path, so a predictor never does I/O and never raises on hostile input (it ignores
what it cannot use).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Prediction:
    """One call the next turn is likely to make.

    ``confidence`` is the predictor's estimate, in [0, 1], that the session will make
    exactly this call (same tool, same arguments). ``source`` says, for people and
    metrics, why: e.g. ``"search->fetch url<-result(c1).results[*].url"``.
    """

    tool: str
    arguments: dict[str, Any]
    confidence: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class PredictorSettings:
    """Bounds and the precision target. Every cap keeps memory and time flat on hostile input."""

    precision_target: float = 0.7
    """The adaptive threshold keeps the measured precision of (tenant, tool) at or above this."""
    min_threshold: float = 0.3
    """The threshold never drops below this, however good the measured precision."""
    max_threshold: float = 0.99
    """The threshold never rises above this (a tool still gets the occasional trial)."""
    feedback_window: int = 50
    """Precision is measured over the last this-many feedbacks of a (tenant, tool)."""
    min_support: int = 3
    """A transition must have been seen this many times before it is proposed."""
    max_tenants: int = 32
    """Tenant models kept; the least recently used one is dropped first."""
    max_tools: int = 64
    """Per tenant: distinct tools modelled; calls to further tools are ignored."""
    max_transitions: int = 128
    """Per tenant: (previous tool, next tool) pairs modelled; further pairs are ignored."""
    max_sessions: int = 256
    """Live sessions tracked, all tenants together; the least recently active is dropped first."""
    max_calls_per_session: int = 32
    """Per session: the most recent calls kept as sources of argument values."""
    max_results_per_session: int = 8
    """Per session: the most recent results kept (indexed) as sources of argument values."""
    max_arguments: int = 8
    """Per call: arguments considered (by sorted name); further ones are ignored."""
    max_sources_per_argument: int = 8
    """Per (transition, argument): candidate provenances counted; the rarest makes room."""
    max_path_depth: int = 4
    """Depth of a path into a result (``results[*].url`` is depth 3)."""
    max_paths_per_result: int = 64
    """Leaves indexed per result; a larger result is indexed in part (its first leaves)."""
    max_value_chars: int = 256
    """Longer string values are neither indexed nor copied."""
    max_fanout: int = 5
    """A ``[*]`` provenance proposes at most this many calls (the first list items)."""
    max_predictions: int = 8
    """At most this many predictions per :meth:`Predictor.predict` call."""
    max_nodes: int = 2_048
    """Nodes of a result (or an argument) walked at most; the rest of a larger value is skipped."""

    def __post_init__(self) -> None:
        if not 0.0 < self.precision_target <= 1.0:
            raise ValueError("precision_target must be in (0, 1]")
        if not 0.0 <= self.min_threshold <= self.max_threshold <= 1.0:
            raise ValueError("thresholds must satisfy 0 <= min_threshold <= max_threshold <= 1")
        for name in ("feedback_window", "min_support", "max_tenants", "max_tools",
                     "max_transitions", "max_sessions", "max_results_per_session",
                     "max_calls_per_session", "max_arguments",
                     "max_sources_per_argument", "max_path_depth", "max_paths_per_result",
                     "max_value_chars", "max_fanout", "max_predictions", "max_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@runtime_checkable
class Predictor(Protocol):
    """Proposes a session's next calls from what it has done so far; learns online."""

    def observe_call(self, tenant: str, session_id: str, call_id: str, tool: str,
                     arguments: Mapping[str, Any], *, turn: str | None = None) -> None:
        """A session asked for ``tool(arguments)`` (a ``calls`` record). Learns from it.

        ``turn`` names the model turn that proposed the call (the request's
        ``metadata["llm_call_id"]``); without it, a call after a result starts a new turn.
        """
        ...

    def observe_result(self, tenant: str, session_id: str, call_id: str, tool: str, *,
                       status: str, value: Any) -> None:
        """The call ended (a ``results`` record); ``value`` is the tool's result if status is ok.

        ``status`` and ``value`` are keyword-only: ``status=`` a CallStatus value.
        """
        ...

    def end_session(self, tenant: str, session_id: str) -> None:
        """The session ended: forget its live state (what was learned stays)."""
        ...

    def predict(self, tenant: str, session_id: str) -> list[Prediction]:
        """The calls the session's next turn is likely to make, most confident first.

        Only predictions at or above the (tenant, tool) threshold are returned, at
        most ``max_predictions`` of them, none the session has already made.
        """
        ...

    def feedback(self, tenant: str, tool: str, used: bool) -> None:
        """Whether a speculative call of ``tool`` was used by the session (adapts the threshold)."""
        ...


@dataclass(slots=True)
class NullPredictor:
    """Predicts nothing: speculation off, with the same seam."""

    observed: int = field(default=0)

    def observe_call(self, tenant: str, session_id: str, call_id: str, tool: str,
                     arguments: Mapping[str, Any], *, turn: str | None = None) -> None:
        self.observed += 1

    def observe_result(self, tenant: str, session_id: str, call_id: str, tool: str, *,
                       status: str, value: Any) -> None:
        pass

    def end_session(self, tenant: str, session_id: str) -> None:
        pass

    def predict(self, tenant: str, session_id: str) -> list[Prediction]:
        return []

    def feedback(self, tenant: str, tool: str, used: bool) -> None:
        pass
