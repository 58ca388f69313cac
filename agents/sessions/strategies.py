"""Branch-cancellation strategies: which calls of a turn to stop, and which to keep.

Pure functions over a turn's state. Each call runs on a branch of its own, so
cancelling a branch stops exactly one call. ``race`` groups: the first
acceptable result among calls to the group's tools wins and its siblings are
cancelled. ``keep_top_n``: once ``n`` acceptable results are in, the calls still
running are cancelled, and when the turn settles only the ``n`` best results
go back to the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from async_toolformer.schemas import SessionOptions, ToolCallCompleted

from .scoring import Scorer
from .state import CallState, TurnState

__all__ = ["Verdict", "keep_top_n_cuts", "race_verdicts", "top_n_discards"]


@dataclass(frozen=True, slots=True)
class Verdict:
    call: CallState
    decision: str  # won | cancelled | discarded
    reason: str
    score: float | None = None


def race_verdicts(options: SessionOptions, turn: TurnState, call: CallState,
                  result: ToolCallCompleted, scorer_for: Callable[[str], Scorer]) -> list[Verdict]:
    """Winners and cancelled siblings decided by ``result`` arriving for ``call``."""
    verdicts: list[Verdict] = []
    for number, group in enumerate(options.race):
        if call.tool not in group.tools or number in turn.decided_groups:
            continue
        score = scorer_for(group.scorer)(result)
        if not (result.ok and score >= group.min_score):
            continue
        turn.decided_groups.add(number)
        names = "/".join(group.tools)
        verdicts.append(Verdict(call, "won", f"first acceptable result of race {names}", score))
        verdicts += [
            Verdict(sibling, "cancelled", f"race {names} was won by {call.llm_call_id}")
            for sibling in turn.calls.values()
            if sibling is not call and sibling.pending and sibling.tool in group.tools
        ]
    return verdicts


def keep_top_n_cuts(options: SessionOptions, turn: TurnState) -> list[Verdict]:
    """The calls to cancel once ``keep_top_n`` acceptable results are in."""
    n = options.keep_top_n
    if n is None or turn.top_n_closed:
        return []
    accepted = sum(1 for call in turn.calls.values()
                   if call.settled is not None and call.settled.acceptable)
    if accepted < n:
        return []
    turn.top_n_closed = True
    return [Verdict(call, "cancelled", f"keep_top_n: {n} acceptable results are in")
            for call in turn.calls.values() if call.pending and call.call_id is not None]


def top_n_discards(options: SessionOptions, turn: TurnState) -> list[Verdict]:
    """At the end of a turn: every call outside the ``n`` best (by score, then arrival)."""
    n = options.keep_top_n
    if n is None or len(turn.calls) <= n:
        return []

    def rank(call: CallState) -> tuple[int, float, int]:
        settled = call.settled
        assert settled is not None  # the turn is settled
        return (0 if settled.acceptable else 1, -(settled.score or 0.0), call.settled_order)

    ordered = sorted(turn.calls.values(), key=rank)
    return [Verdict(call, "discarded", f"not among the top {n} results", call.settled.score
                    if call.settled else None)
            for call in ordered[n:]
            if call.settled is not None and call.settled.status != "cancelled"]
