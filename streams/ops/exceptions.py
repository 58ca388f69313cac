"""Errors of replay, history and group status; each says what happened and what to do."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.exceptions import ConfigurationError

__all__ = ["RangeError", "ReplayError", "ReplayIncompleteError", "UnguardedReplayError",
           "UnknownTopicError"]


class ReplayError(ToolformerError):
    """Base of the errors replay, history and status raise on purpose."""


class RangeError(ReplayError, ConfigurationError):
    """The record range asked for cannot select anything."""


class UnguardedReplayError(ReplayError, ConfigurationError):
    """A replay that should run no tool has no execution ledger to answer from."""


class ReplayIncompleteError(ReplayError):
    """Some replayed calls got no result within the timeout."""


class UnknownTopicError(ReplayError):
    """The topic to read does not exist on the broker."""
