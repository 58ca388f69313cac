"""Errors of the session loop; each says what happened and what to do."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["SessionError", "UnknownScorerError"]


class SessionError(ToolformerError):
    """Base of the session loop's errors."""


class UnknownScorerError(SessionError):
    """A race group or keep_top_n names a scorer that is neither built in nor importable."""
