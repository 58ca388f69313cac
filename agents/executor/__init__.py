"""The call executor: admission of raw records, concurrent runs, cancellation, ordered acks."""

from .cancellations import CancellationBook
from .executor import CallExecutor, CallGate, ExecutorStats, ResultSink
from .intake import Admission, Refusal, admit
from .offsets import OffsetTracker
from .outcome import CallOutcome, completed_event, rejected_event
from .runner import run_tool

__all__ = [
    "Admission",
    "CallExecutor",
    "CallGate",
    "CallOutcome",
    "CancellationBook",
    "ExecutorStats",
    "OffsetTracker",
    "Refusal",
    "ResultSink",
    "admit",
    "completed_event",
    "rejected_event",
    "run_tool",
]
