"""Dead letters (topic ``dlq``): input a worker could not handle, kept so it can be inspected.

A letter must always fit on its topic, whatever it is about: the original key
and value are kept whole up to ``KEPT_BYTES`` each (base64 grows them by a
third), and beyond that cut, with their full length and sha256 so the original
can still be told apart and matched. The error text is clipped the same way.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from ._base import Event, utc_now

__all__ = ["ERROR_CHARS", "KEPT_BYTES", "DeadLetter", "DeadLetterReason"]

KEPT_BYTES = 65_536
"""Of a dead-lettered record's key and of its value, the bytes a letter keeps."""
ERROR_CHARS = 2_000
"""Of the error text, the characters a letter keeps."""


class DeadLetterReason(StrEnum):
    """Why a record was set aside; the ``error`` field carries the details."""

    UNDECODABLE = "undecodable"
    INVALID_EVENT = "invalid_event"
    UNKNOWN_TOOL = "unknown_tool"
    INVALID_ARGUMENTS = "invalid_arguments"
    TOO_LARGE = "too_large"
    UNSERIALISABLE_OUTPUT = "unserialisable_output"
    INTERNAL_ERROR = "internal_error"
    FORBIDDEN = "forbidden"  # outside the tenant's policy


class DeadLetter(Event):
    """The original bytes of a bad record (cut past ``KEPT_BYTES``), where it came from and why.

    Bytes are base64 in JSON so that a record that is not UTF-8 survives the
    round trip unchanged. ``value_length`` and ``value_sha256`` (and the key's)
    describe the original whole; ``truncated`` says whether either was cut.
    """

    type: Literal["dead_letter"] = "dead_letter"
    reason: DeadLetterReason
    error: str
    source_topic: str
    source_partition: int
    source_offset: int
    key: bytes | None = None
    value: bytes | None = None
    key_length: int | None = Field(default=None, ge=0)
    key_sha256: str | None = None
    value_length: int | None = Field(default=None, ge=0)
    value_sha256: str | None = None
    truncated: bool = False
    call_id: str | None = None
    worker_id: str
    dead_at: datetime = Field(default_factory=utc_now)

    @classmethod
    def of_record(cls, *, reason: DeadLetterReason, error: str, source_topic: str,
                  source_partition: int, source_offset: int, key: bytes | None,
                  value: bytes | None, worker_id: str, call_id: str | None = None,
                  kept_bytes: int = KEPT_BYTES) -> DeadLetter:
        """The letter for one record, bounded whatever the record's size."""
        if call_id is not None and len(call_id) > 256:
            call_id = None  # not an id anyone can look up; the value keeps what it was
        return cls(
            reason=reason, error=_clip(error), source_topic=source_topic,
            source_partition=source_partition, source_offset=source_offset,
            key=None if key is None else key[:kept_bytes],
            value=None if value is None else value[:kept_bytes],
            key_length=None if key is None else len(key), key_sha256=_sha256(key),
            value_length=None if value is None else len(value), value_sha256=_sha256(value),
            truncated=any(b is not None and len(b) > kept_bytes for b in (key, value)),
            call_id=call_id, worker_id=worker_id)


def _sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _clip(text: str) -> str:
    if len(text) <= ERROR_CHARS:
        return text
    return f"{text[:ERROR_CHARS]}... ({len(text) - ERROR_CHARS} more characters)"
