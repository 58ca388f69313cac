"""Tools that log while they run, for the JSON log tests. Importing registers them."""

from __future__ import annotations

import asyncio
import logging

from async_toolformer.agents.tools import tool

logger = logging.getLogger("tests.console.tools")


@tool
async def chatty(ms: int) -> int:
    """Log before and after waiting: once in the batch that starts it, once in its own task."""
    logger.info("chatty starts")
    await asyncio.sleep(ms / 1000)
    logger.info("chatty ends")
    return ms


@tool
def chatty_sync(n: int) -> int:
    """Log from the thread pool."""
    logger.info("chatty_sync runs")
    return n
