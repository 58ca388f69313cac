"""Dead letters (topic ``dlq``): input a worker could not handle, kept whole."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from ._base import Event, utc_now


class DeadLetterReason(StrEnum):
    """Why a record was set aside; the ``error`` field carries the details."""

    UNDECODABLE = "undecodable"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    TOO_LARGE = "too_large"
    UNSERIALISABLE_OUTPUT = "unserialisable_output"


class DeadLetter(Event):
    """The original bytes of a bad record, with where it came from and why.

    Bytes are base64 in JSON so that a record that is not UTF-8 survives the
    round trip unchanged.
    """

    type: Literal["dead_letter"] = "dead_letter"
    reason: DeadLetterReason
    error: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None = None
    value: bytes | None = None
    call_id: str | None = None
    worker_id: str
    dead_at: datetime = Field(default_factory=utc_now)
