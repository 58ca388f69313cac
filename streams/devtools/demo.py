"""The demo of ``make run``: one session of parallel tool calls through the real broker.

It runs the calls twice through the same worker: all at once, as the system is
meant to be used, and one after another, as a naive agent loop would. Both runs
are measured, so the speedup printed is observed, not computed from tool latencies.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from async_toolformer.schemas import ToolCallCompleted, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient

DEMO_TOOLS_MODULE = "async_toolformer.agents.tools.demo"

DEMO_CALLS: list[tuple[str, dict[str, object]]] = [
    ("web_search", {"query": "kafka consumer group rebalancing"}),
    ("web_search", {"query": "redis lua token bucket"}),
    ("web_search", {"query": "asyncio task groups"}),
    ("get_weather", {"city": "Lisbon"}),
    ("get_weather", {"city": "Osaka"}),
    ("get_weather", {"city": "Nairobi"}),
    ("stock_price", {"symbol": "ACME"}),
    ("stock_price", {"symbol": "INIT"}),
    ("stock_price", {"symbol": "GLOBX"}),
    ("query_docs", {"sql": "select * from guides where topic = 'retries'"}),
    ("query_docs", {"sql": "select count(*) from incidents"}),
    ("sleep", {"ms": 800}),
    ("sleep", {"ms": 50}),
    ("echo", {"note": "echo answers at once"}),
]


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo measured."""

    session_id: str
    results: list[ToolCallCompleted]
    parallel_s: float
    sequential_s: float
    slowest_call_s: float

    @property
    def speedup(self) -> float:
        return self.sequential_s / self.parallel_s if self.parallel_s else 0.0


def demo_calls(session_id: str, run: str) -> list[ToolCallRequested]:
    return [
        ToolCallRequested(call_id=f"{run}-{i:02d}", session_id=session_id, tool=tool,
                          arguments=arguments)
        for i, (tool, arguments) in enumerate(DEMO_CALLS)
    ]


async def run_demo(client: ToolformerClient, *, timeout_s: float = 60.0) -> DemoReport:
    session_id = f"demo-{uuid.uuid4().hex[:8]}"
    await client.run(demo_calls(f"{session_id}-warmup", "warm")[-1:], timeout_s=timeout_s)
    started = time.perf_counter()
    results = await client.run(demo_calls(session_id, "par"), timeout_s=timeout_s)
    parallel_s = time.perf_counter() - started
    started = time.perf_counter()
    for call in demo_calls(f"{session_id}-seq", "seq"):
        await client.run([call], timeout_s=timeout_s)
    sequential_s = time.perf_counter() - started
    slowest = max(r.timings.run_ms for r in results) / 1000
    return DemoReport(session_id, list(results), parallel_s, sequential_s, slowest)



DEMO_PROMPT = "Plan a weekend trip: compare the weather and find things to do."

DEMO_SCRIPT: dict[str, object] = {
    "defaults": {"latency_ms": 250, "token_delay_ms": 15, "chunk_chars": 24},
    "turns": [
        {"text": "Let me check the weather and look for things to do in each city.",
         "tool_calls": [
             {"name": "get_weather", "arguments": {"city": "Lisbon"}},
             {"name": "get_weather", "arguments": {"city": "Osaka"}},
             {"name": "get_weather", "arguments": {"city": "Nairobi"}},
             {"name": "web_search", "arguments": {"query": "Lisbon weekend"}},
             {"name": "web_search", "arguments": {"query": "Osaka weekend"}},
             {"name": "web_search", "arguments": {"query": "Nairobi weekend"}},
         ]},
        {"text": "Two more details before I answer.",
         "tool_calls": [
             {"name": "stock_price", "arguments": {"symbol": "TRVL"}},
             {"name": "query_docs", "arguments": {"sql": "select * from visas"}},
         ]},
        {"text": "Osaka looks best this weekend: 24 °C and partly cloudy, with plenty to "
                 "do. Nairobi is a close second at 20 °C; Lisbon will be cold."},
    ],
}
"""The scripted model of the demo session: two turns of parallel calls, then the answer."""
