"""The speculation benchmark's tools: they sleep their workload duration and return its output.

Every tool but ``save_note`` is read-only and idempotent with a cache lifetime, so
the worker may run it speculatively; outputs and durations are the workload's
pure functions of the arguments, so a scripted model can quote them in advance.
"""

from __future__ import annotations

import asyncio
from typing import Any

from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.streams.devtools.bench.speculation_workload import (
    READ_ONLY,
    duration_of,
    output_of,
)

CACHE_TTL_S = 300.0


async def _run(name: str, arguments: dict[str, Any]) -> Any:
    await asyncio.sleep(duration_of(name, arguments) / 1000)
    return output_of(name, arguments)


def bench_tools() -> ToolRegistry:
    """A registry of the workload's eleven tools."""
    registry = ToolRegistry()

    def declare(fn: Any) -> None:
        cacheable = fn.__name__ in READ_ONLY
        tool(registry=registry, read_only=cacheable, idempotent=cacheable,
             cache_ttl_s=CACHE_TTL_S if cacheable else None)(fn)

    async def search(query: str) -> Any:
        """Search the docs."""
        return await _run("search", {"query": query})

    async def fetch(url: str) -> Any:
        """Fetch a page."""
        return await _run("fetch", {"url": url})

    async def summarise(topic: str) -> Any:
        """Summarise what was read on a topic."""
        return await _run("summarise", {"topic": topic})

    async def lookup_customer(email: str) -> Any:
        """Find a customer by email."""
        return await _run("lookup_customer", {"email": email})

    async def get_orders(customer_id: str) -> Any:
        """A customer's orders, latest first."""
        return await _run("get_orders", {"customer_id": customer_id})

    async def get_shipment(order_id: str) -> Any:
        """Where an order is."""
        return await _run("get_shipment", {"order_id": order_id})

    async def weather(city: str) -> Any:
        """The weather in a city."""
        return await _run("weather", {"city": city})

    async def convert(amount: int, currency: str) -> Any:
        """Convert an amount of USD."""
        return await _run("convert", {"amount": amount, "currency": currency})

    async def stock_quote(symbol: str) -> Any:
        """A stock's price."""
        return await _run("stock_quote", {"symbol": symbol})

    async def word_of_day(day: int) -> Any:
        """The word of a day of the year."""
        return await _run("word_of_day", {"day": day})

    async def save_note(text: str) -> Any:
        """Save a note (it writes: not read-only)."""
        return await _run("save_note", {"text": text})

    for fn in (search, fetch, summarise, lookup_customer, get_orders, get_shipment, weather,
               convert, stock_quote, word_of_day, save_note):
        declare(fn)
    return registry
