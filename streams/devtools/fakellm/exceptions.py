"""Errors of the scripted model server; each says what to fix in the script or request."""

from __future__ import annotations

from async_toolformer.schemas.exceptions import ToolformerError

__all__ = ["ScriptError", "ScriptMismatchError"]


class ScriptError(ToolformerError):
    """The script file cannot be read or does not fit the script format."""


class ScriptMismatchError(ToolformerError):
    """A request cannot be matched to a turn of the script (answered as HTTP 400)."""
