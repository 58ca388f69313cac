"""Caching tools for the result-cache tests. Importing registers them (default registry).

Each counts its runs by ``token`` (tests pick a fresh one), in this process: the
single-flight tests run their workers or executors in the test's process.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from async_toolformer.agents.tools import tool

runs: Counter[str] = Counter()


@tool(read_only=True, idempotent=True, cache_ttl_s=60)
async def lookup_price(token: str, sku: str, scale: float = 1.0, currency: str = "EUR",
                       extra: Any = None) -> dict[str, Any]:
    """A read-only lookup: the same answer for the same question."""
    runs[token] += 1
    return {"sku": sku, "price": 10 * scale, "currency": currency, "extra": extra}


@tool(read_only=True, idempotent=True, cache_ttl_s=60)
async def slow_lookup(token: str, delay_s: float = 0.3) -> dict[str, Any]:
    """A read-only lookup that takes a while: identical calls meanwhile should wait for it."""
    runs[token] += 1
    await asyncio.sleep(delay_s)
    return {"token": token, "run": runs[token]}


@tool(read_only=True, idempotent=True, cache_ttl_s=2)
async def short_lived(token: str) -> int:
    """Cached for 2 s only: two calls in a row fall within it even on a loaded machine."""
    runs[token] += 1
    return runs[token]


@tool(read_only=True, idempotent=True, cache_ttl_s=60)
async def sized(token: str, size: int) -> str:
    """A result of ``size`` characters."""
    runs[token] += 1
    return "x" * size


@tool(read_only=True, idempotent=True, cache_ttl_s=60)
async def failing_lookup(token: str) -> None:
    """Fails every time: an error is never cached."""
    runs[token] += 1
    raise RuntimeError("the backend is down")


@tool(read_only=True, idempotent=True, cache_ttl_s=60)
async def anything(token: str, payload: Any = None) -> str:
    """Takes any JSON: for hostile arguments."""
    runs[token] += 1
    return "seen"
