"""Tools for the tracing tests. Importing registers them."""

from __future__ import annotations

import asyncio
import logging

from async_toolformer.agents.tools import tool

logger = logging.getLogger("tests.tracing.tools")


@tool
async def noted(tag: str) -> str:
    """Log one line while it runs (the JSON log must tie it to the call's trace), then wait."""
    logger.warning("noted %s", tag[:64])
    await asyncio.sleep(0.02)
    return tag[:64]
