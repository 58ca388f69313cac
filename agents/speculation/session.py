"""What a predictor remembers of one live session: recent calls, recent results, the turn.

Bounded by the settings: the last ``max_calls_per_session`` calls and, of those, the
indexed results of the last ``max_results_per_session``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from .protocol import PredictorSettings
from .values import Path, ScalarKey

Signature = tuple[str, tuple[tuple[str, ScalarKey], ...]]
"""A call as (tool, sorted scalar arguments): equal signatures are the same call."""


def signature_of(tool: str, arguments: dict[str, ScalarKey]) -> Signature:
    return tool, tuple(sorted(arguments.items()))


@dataclass(slots=True)
class CallSeen:
    """One call of the session, reduced to what predictions may copy from it."""

    call_id: str
    tool: str
    turn: int
    arguments: dict[str, ScalarKey]
    leaves: dict[Path, ScalarKey] | None = None


@dataclass(slots=True)
class SessionState:
    """The live state of one session, as the predictor needs it."""

    settings: PredictorSettings
    calls: deque[CallSeen] = field(init=False)
    by_id: dict[str, CallSeen] = field(default_factory=dict)
    with_results: deque[str] = field(init=False)
    made: dict[Signature, None] = field(default_factory=dict)
    turn: int = 0
    turn_label: str | None = None
    turn_tools: list[str] = field(default_factory=list)
    """Tools the current turn has called, in order of first call."""
    anchors: list[str] = field(default_factory=list)
    """Tools the previous turn called: what the current turn's calls are learned to follow."""
    bridge: list[str] = field(default_factory=list)
    """``~tool`` for the tools of the turn before the previous one, if the previous was weak."""
    result_since_call: bool = False
    index: dict[ScalarKey, list[tuple[Hashable, int | None]]] | None = None

    def __post_init__(self) -> None:
        self.calls = deque(maxlen=self.settings.max_calls_per_session)
        self.with_results = deque(maxlen=self.settings.max_results_per_session)

    def add_call(self, call: CallSeen, complete: bool) -> None:
        """Remember ``call``; forget the oldest if full."""
        if len(self.calls) == self.calls.maxlen:
            oldest = self.calls[0]
            self.by_id.pop(oldest.call_id, None)
        self.calls.append(call)
        self.by_id[call.call_id] = call
        if complete:
            self.made[signature_of(call.tool, call.arguments)] = None
            while len(self.made) > 4 * self.settings.max_calls_per_session:
                del self.made[next(iter(self.made))]

    def add_result(self, call: CallSeen, leaves: dict[Path, ScalarKey]) -> None:
        """Keep ``leaves`` as ``call``'s result; drop the oldest kept result if full."""
        if call.leaves is None:
            if len(self.with_results) == self.with_results.maxlen:
                dropped = self.by_id.get(self.with_results[0])
                if dropped is not None:
                    dropped.leaves = None
            self.with_results.append(call.call_id)
        call.leaves = leaves
        self.index = None
