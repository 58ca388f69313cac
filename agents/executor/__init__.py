"""The call executor: admission of raw records, concurrent runs, cancellation, ordered acks."""

from .cancellations import CancellationBook
from .executor import CallExecutor, CallGuard, ExecutorStats, ResultSink, Run, Seal, Sealed
from .intake import Admission, Refusal, admit
from .offsets import OffsetTracker
from .outcome import CallOutcome, completed_event, rejected_event
from .runner import run_tool

__all__ = [
    "Admission",
    "CallExecutor",
    "CallGuard",
    "CallOutcome",
    "CancellationBook",
    "ExecutorStats",
    "OffsetTracker",
    "Refusal",
    "ResultSink",
    "Run",
    "Seal",
    "Sealed",
    "admit",
    "completed_event",
    "rejected_event",
    "run_tool",
]
