"""Errors raised while reading events off the wire."""

from __future__ import annotations


class SchemaError(ValueError):
    """Input that cannot become an event. ``call_id`` is set when it could be read."""

    def __init__(self, message: str, *, call_id: str | None = None) -> None:
        super().__init__(message)
        self.call_id = call_id


class UndecodableError(SchemaError):
    """The bytes are not JSON."""


class InvalidEventError(SchemaError):
    """The JSON does not match the event's schema."""
