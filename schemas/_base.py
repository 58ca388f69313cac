"""The base every event shares: a type tag, a schema version, strict fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA_VERSION = 1

Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, strip_whitespace=True),
]
"""A call, session or branch id: non-empty, bounded so a key never bloats a topic."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """An immutable event on a topic.

    Unknown fields are refused rather than dropped: a producer that misspells
    ``arguments`` gets a dead letter that says so instead of a tool run with no
    arguments.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64",
                              val_json_bytes="base64")

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
