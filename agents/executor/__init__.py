"""The call executor: admission of raw records, concurrent runs, cancellation, ordered acks."""

from .cancellations import CancellationBook
from .executor import CallExecutor, ExecutorStats
from .guarding import (
    Answered,
    AnswerRecording,
    BatchSink,
    BulkAdmission,
    CallGuard,
    Claimed,
    Opening,
    ResultSink,
    Reused,
    Run,
    Seal,
    Sealed,
)
from .intake import Admission, Refusal, admit
from .limits import CallLimits
from .offsets import OffsetTracker
from .outcome import CallOutcome, completed_event, rejected_event
from .runner import run_tool, start_tool

__all__ = [
    "Admission",
    "AnswerRecording",
    "Answered",
    "BatchSink",
    "BulkAdmission",
    "CallExecutor",
    "CallGuard",
    "CallLimits",
    "CallOutcome",
    "CancellationBook",
    "Claimed",
    "ExecutorStats",
    "OffsetTracker",
    "Opening",
    "Refusal",
    "ResultSink",
    "Reused",
    "Run",
    "Seal",
    "Sealed",
    "admit",
    "completed_event",
    "rejected_event",
    "run_tool",
    "start_tool",
]
