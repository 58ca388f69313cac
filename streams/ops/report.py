"""What a replay did, for the summary table and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from async_toolformer.schemas import ToolCallCompleted
from async_toolformer.streams.ops.diff import CallDiff, Verdict, tally
from async_toolformer.streams.ops.plan import ReplayPlan
from async_toolformer.streams.ops.selection import RecordRange


class ReplayObserver(Protocol):
    """Progress of a replay as it happens (the CLI draws bars from it)."""

    def planned(self, plan: ReplayPlan) -> None: ...

    def copied(self, records: int) -> None: ...

    def submitted(self, calls: int) -> None: ...

    def answered(self, results: int) -> None: ...


class SilentObserver:
    """An observer that ignores everything."""

    def planned(self, plan: ReplayPlan) -> None:
        pass

    def copied(self, records: int) -> None:
        pass

    def submitted(self, calls: int) -> None:
        pass

    def answered(self, results: int) -> None:
        pass


@dataclass
class ReplayReport:
    """Counts and per-call diffs of one replay."""

    plan: ReplayPlan
    selection: RecordRange
    records_read: int = 0
    not_calls: int = 0
    repeated_call_ids: int = 0
    diffs: list[CallDiff] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def calls(self) -> int:
        return len(self.diffs)

    @property
    def complete(self) -> bool:
        return all(d.verdict is not Verdict.NO_NEW_RESULT for d in self.diffs)

    @property
    def reexecuted(self) -> int:
        """Calls answered by running again rather than from the ledger.

        A result re-emitted from the ledger is the recorded event itself, so any
        new result that is not identical to the old one came from a new run (or,
        for a lease that expired without a result, an ``indeterminate`` answer).
        """
        return sum(d.verdict not in (Verdict.IDENTICAL, Verdict.NO_NEW_RESULT)
                   for d in self.diffs)

    def summary(self) -> dict[str, Any]:
        return {
            "replay_id": self.plan.replay_id,
            "fresh": self.plan.fresh,
            "source_topic": self.plan.source.calls,
            "replay_prefix": self.plan.target.prefix,
            "group_id": self.plan.group_id,
            "ledger_namespace": self.plan.ledger_namespace,
            "range": self.selection.describe(),
            "records_read": self.records_read,
            "not_calls": self.not_calls,
            "repeated_call_ids": self.repeated_call_ids,
            "calls": self.calls,
            "reexecuted": self.reexecuted,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.records_read / self.seconds, 1) if self.seconds else 0.0,
            **tally(self.diffs),
        }

    def to_json(self) -> dict[str, Any]:
        """The summary plus one entry per call (``--json``)."""
        return {**self.summary(), "diff": [_diff_json(d) for d in self.diffs]}


def _diff_json(diff: CallDiff) -> dict[str, Any]:
    def outcome(side: ToolCallCompleted | None) -> dict[str, Any] | None:
        if side is None:
            return None
        return side.model_dump(mode="json", include={"status", "output", "error", "worker_id",
                                                     "attempts"})

    return {"call_id": diff.call_id, "tool": diff.tool, "verdict": diff.verdict.value,
            "changed": list(diff.changed_fields), "old": outcome(diff.old),
            "new": outcome(diff.new)}
