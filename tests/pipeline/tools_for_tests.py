"""Tools that misbehave on purpose, for the pipeline tests. Importing registers them."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from async_toolformer.agents.exceptions import ToolFailure
from async_toolformer.agents.tools import RetryPolicy, tool

attempts_by_key: Counter[str] = Counter()


@tool(retry=RetryPolicy(attempts=4, initial_delay_s=0.01, jitter=0.0))
async def flaky(key: str, failures: int) -> dict[str, Any]:
    """Fail (retryably) ``failures`` times per ``key``, then succeed."""
    attempts_by_key[key] += 1
    if attempts_by_key[key] <= failures:
        raise ToolFailure(f"attempt {attempts_by_key[key]} failed", retryable=True)
    return {"key": key, "attempts": attempts_by_key[key]}


@tool
async def unserialisable() -> object:
    """Return something JSON cannot hold."""
    return object()


@tool
def blocking_sum(a: int, b: int) -> int:
    """A sync tool: runs in the thread pool, not on the event loop."""
    return a + b


@tool(timeout_s=0.2)
async def hangs() -> None:
    """Never returns on its own; its timeout ends it."""
    await asyncio.Event().wait()


@tool
async def nap(ms: int) -> int:
    """Like the built-in sleep, under a name no per-tool cap applies to."""
    await asyncio.sleep(ms / 1000)
    return ms


executions: Counter[str] = Counter()


@tool
async def charge(account: str, cents: int) -> dict[str, Any]:
    """Not idempotent: counts every real execution per account."""
    executions[account] += 1
    return {"account": account, "charged": cents}
