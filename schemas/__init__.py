"""Event models, the JSON wire codec and JSON Schema export. No I/O here."""

from ._base import SCHEMA_VERSION, utc_now
from .calls import (
    DEFAULT_BRANCH,
    DEFAULT_TENANT,
    CallStatus,
    CallTimings,
    ToolCallCompleted,
    ToolCallRequested,
    ToolError,
)
from .cancellations import BranchCancelled, Cancellation, SessionCancelled
from .codec import AnyEvent, decode, decode_as, encode, loads
from .dead_letters import DeadLetter, DeadLetterReason
from .exceptions import InvalidEventError, SchemaError, UndecodableError
from .export import json_schemas

__all__ = [
    "DEFAULT_BRANCH",
    "DEFAULT_TENANT",
    "SCHEMA_VERSION",
    "AnyEvent",
    "BranchCancelled",
    "CallStatus",
    "CallTimings",
    "Cancellation",
    "DeadLetter",
    "DeadLetterReason",
    "InvalidEventError",
    "SchemaError",
    "SessionCancelled",
    "ToolCallCompleted",
    "ToolCallRequested",
    "ToolError",
    "UndecodableError",
    "decode",
    "decode_as",
    "encode",
    "json_schemas",
    "loads",
    "utc_now",
]
