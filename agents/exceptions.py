"""Errors of tools and their registry. Tools raise :class:`ToolFailure` to shape their error."""

from __future__ import annotations


class ToolformerAgentError(Exception):
    """Base of the errors raised on purpose by this package."""


class ToolDefinitionError(ToolformerAgentError):
    """A function cannot be a tool as written (say which parameter and why)."""


class UnknownToolError(ToolformerAgentError):
    """A call names a tool the worker does not have."""


class InvalidArgumentsError(ToolformerAgentError):
    """A call's arguments do not fit the tool's signature."""


class ToolLoadError(ToolformerAgentError):
    """A ``--tools`` module could not be imported."""


class ToolFailure(Exception):  # noqa: N818 - a tool's failure, not a program error
    """Raise from a tool to fail the call with a clear message.

    ``retryable=True`` lets the tool's retry policy try again; any other
    exception is retried only if its type is in the policy's ``retry_on``.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
