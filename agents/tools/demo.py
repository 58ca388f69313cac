"""Demo tools with the latencies of real APIs, for ``make run`` and the benchmarks.

Each waits a latency drawn deterministically from its arguments (so a rerun of
the demo is comparable) in the range a real call of its kind takes, then answers
with plausible made-up data. Importing this module registers them.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from .registry import tool


def _latency_ms(low: int, high: int, *parts: object) -> int:
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


@tool(idempotent=True, service="search-api", timeout_s=5)
async def web_search(query: str, limit: int = 3) -> dict[str, Any]:
    """Search the web; return the top result titles and URLs."""
    await asyncio.sleep(_latency_ms(250, 800, "search", query) / 1000)
    slug = "-".join(query.lower().split())[:40]
    return {"query": query, "results": [
        {"title": f"{query} — result {i + 1}", "url": f"https://example.org/{slug}/{i + 1}"}
        for i in range(limit)
    ]}


@tool(idempotent=True, service="weather-api", timeout_s=5)
async def get_weather(city: str) -> dict[str, Any]:
    """Current weather of a city."""
    await asyncio.sleep(_latency_ms(80, 300, "weather", city) / 1000)
    return {"city": city, "temp_c": _latency_ms(-5, 30, city), "sky": "partly cloudy"}


@tool(idempotent=True, service="market-api", timeout_s=5)
async def stock_price(symbol: str) -> dict[str, Any]:
    """Last traded price of a stock symbol."""
    await asyncio.sleep(_latency_ms(50, 200, "stock", symbol) / 1000)
    return {"symbol": symbol.upper(), "price": _latency_ms(20, 900, symbol) + 0.25}


@tool(idempotent=True, service="docs-db", timeout_s=5)
async def query_docs(sql: str) -> dict[str, Any]:
    """Run a read-only query against the documentation database."""
    await asyncio.sleep(_latency_ms(100, 600, "sql", sql) / 1000)
    return {"rows": _latency_ms(0, 50, sql), "sql": sql}
