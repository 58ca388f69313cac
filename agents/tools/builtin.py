"""Built-in tools for demos, tests and benchmarks. Importing this module registers them."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from ..exceptions import ToolFailure
from .registry import tool


@tool(idempotent=True)
async def echo(**arguments: Any) -> dict[str, Any]:
    """Return the arguments it was given."""
    return arguments


MAX_SLEEP_MS = 300_000
"""The longest ``sleep`` (5 minutes): a longer wait is refused as invalid arguments."""


@tool(idempotent=True)
async def sleep(ms: Annotated[int, Field(ge=0, le=MAX_SLEEP_MS)] = 100) -> dict[str, int]:
    """Wait ``ms`` milliseconds (0 to 300000), then return how long it waited."""
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@tool
async def fail(message: str = "failed on purpose", retryable: bool = False) -> None:
    """Raise an error with ``message``; ``retryable`` says whether a retry may help."""
    raise ToolFailure(message, retryable=retryable)
