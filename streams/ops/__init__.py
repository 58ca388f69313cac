"""Replay, history and group status: reading the event log back.

- :func:`replay` re-submits a range of ``calls`` under a consumer group of its
  own, on topics of its own (see :mod:`.plan`), and diffs the results with those
  first recorded: against the live ledger nothing runs again; ``fresh`` re-executes.
- :func:`read_session` and :func:`build_timeline` rebuild one session's calls
  from its partition: start, end, status, attempts, worker, and what overlapped.
- :func:`group_status` describes the workers' consumer group: members, partitions,
  lag (an estimate where the broker's end offsets lag) and calls in flight.

    report = await replay(Settings(), ReplayOptions(RecordRange(from_offset=100)))
    print(report.summary())
"""

from async_toolformer.streams.ops.collector import collect_results, collect_wires
from async_toolformer.streams.ops.diff import (
    CallDiff,
    Verdict,
    compare,
    compare_wires,
    diff_results,
    diff_wires,
    tally,
)
from async_toolformer.streams.ops.exceptions import (
    RangeError,
    ReplayError,
    ReplayIncompleteError,
    UnguardedReplayError,
    UnknownTopicError,
)
from async_toolformer.streams.ops.log_reader import LogRecord, read_range
from async_toolformer.streams.ops.plan import ReplayPlan, plan_replay
from async_toolformer.streams.ops.replayer import ReplayOptions, replay
from async_toolformer.streams.ops.report import ReplayObserver, ReplayReport, SilentObserver
from async_toolformer.streams.ops.selection import RecordRange

__all__ = [
    "CallDiff",
    "LogRecord",
    "RangeError",
    "RecordRange",
    "ReplayError",
    "ReplayIncompleteError",
    "ReplayObserver",
    "ReplayOptions",
    "ReplayPlan",
    "ReplayReport",
    "SilentObserver",
    "UnguardedReplayError",
    "UnknownTopicError",
    "Verdict",
    "collect_results",
    "collect_wires",
    "compare",
    "compare_wires",
    "diff_results",
    "diff_wires",
    "plan_replay",
    "read_range",
    "replay",
    "tally",
]
