"""Errors of tools and their registry. Tools raise :class:`ToolFailure` to shape their error."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["InvalidArgumentsError", "ToolDefinitionError", "ToolFailure", "ToolLoadError",
           "ToolRegistryError", "UnknownToolError"]


class ToolRegistryError(ToolformerError):
    """Base of the errors about which tools exist and how they are called."""


class ToolDefinitionError(ToolRegistryError):
    """A function cannot be a tool as written (say which parameter and why)."""


class UnknownToolError(ToolRegistryError):
    """A call names a tool the worker does not have."""


class InvalidArgumentsError(ToolRegistryError):
    """A call's arguments do not fit the tool's signature."""


class ToolLoadError(ToolRegistryError):
    """A ``--tools`` module could not be imported."""


class ToolFailure(Exception):  # noqa: N818 - a tool's failure, not a program error
    """Raise from a tool to fail the call with a clear message.

    ``retryable=True`` lets the tool's retry policy try again; any other
    exception is retried only if its type is in the policy's ``retry_on``.

    Outside the :class:`ToolformerError` tree on purpose: it is raised by tool
    authors' code, not by this package, and the runner turns it into the call's
    failed result. Under the root, a tool that calls our client and catches
    ``ToolformerError`` would swallow its own failure, and the root's class-wide
    ``retriable`` would sit beside this per-raise ``retryable``.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
