"""Errors a user of the worker, client or CLI can meet; each says what to do.

Their root, :class:`~async_toolformer.schemas.exceptions.ToolformerError`, lives
in schemas with the drawing of the whole tree.
"""

from __future__ import annotations

from typing import ClassVar

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["ConfigurationError", "ResultTimeoutError", "ServiceUnavailableError",
           "TopicMismatchError"]


class ConfigurationError(ToolformerError):
    """A setting is missing or wrong."""


class TopicMismatchError(ConfigurationError):
    """Topics exist with a partition count other than the configured one."""


class ServiceUnavailableError(ToolformerError):
    """Kafka or Redis could not be reached or started: the caller decides whether to retry."""

    retriable: ClassVar[bool] = True


class ResultTimeoutError(ToolformerError):
    """Results did not arrive in time: usually no worker runs on these topics."""
