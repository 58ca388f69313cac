"""Tools whose output is hostile to the results topic, for the hostile-input tests."""

from __future__ import annotations

from typing import Any

from async_toolformer.agents.tools import tool


@tool
async def nested(depth: int) -> Any:
    """Return a value nested ``depth`` levels deep."""
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


@tool
async def huge(chars: int) -> str:
    """Return a string of ``chars`` characters."""
    return "x" * chars
