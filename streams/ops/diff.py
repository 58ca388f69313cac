"""Comparing the results a replay produced with those first recorded, per call_id.

Pure. A replay against the live ledger must re-emit each recorded event as it
was (``identical``); a ``--fresh`` replay runs the tools again, so timings and
workers differ and what matters is whether the outcome (status, output, error)
did (``same_outcome`` or ``changed``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from async_toolformer.schemas import ToolCallCompleted


class Verdict(StrEnum):
    """How one call's new result compares with its old one."""

    IDENTICAL = "identical"
    SAME_OUTCOME = "same_outcome"
    CHANGED = "changed"
    NO_OLD_RESULT = "no_old_result"
    NO_NEW_RESULT = "no_new_result"


_OUTCOME_FIELDS = ("status", "output", "error")


@dataclass(frozen=True, slots=True)
class CallDiff:
    """One call_id's old and new result and what differs between them."""

    call_id: str
    verdict: Verdict
    old: ToolCallCompleted | None
    new: ToolCallCompleted | None
    changed_fields: tuple[str, ...] = ()

    @property
    def tool(self) -> str:
        present = self.new or self.old
        return present.tool if present is not None else "?"


def compare(call_id: str, old: ToolCallCompleted | None,
            new: ToolCallCompleted | None) -> CallDiff:
    """The verdict for one call."""
    if new is None:
        return CallDiff(call_id, Verdict.NO_NEW_RESULT, old, None)
    if old is None:
        return CallDiff(call_id, Verdict.NO_OLD_RESULT, None, new)
    if old == new:
        return CallDiff(call_id, Verdict.IDENTICAL, old, new)
    changed = tuple(f for f in _OUTCOME_FIELDS if getattr(old, f) != getattr(new, f))
    verdict = Verdict.CHANGED if changed else Verdict.SAME_OUTCOME
    return CallDiff(call_id, verdict, old, new, changed)


def diff_results(call_ids: Iterable[str], old: Mapping[str, ToolCallCompleted],
                 new: Mapping[str, ToolCallCompleted]) -> list[CallDiff]:
    """One :class:`CallDiff` per call_id, in the order given."""
    return [compare(c, old.get(c), new.get(c)) for c in call_ids]


def tally(diffs: Iterable[CallDiff]) -> dict[str, int]:
    """Count of calls per verdict, every verdict present (zero included)."""
    counts = Counter(d.verdict for d in diffs)
    return {verdict.value: counts.get(verdict, 0) for verdict in Verdict}
