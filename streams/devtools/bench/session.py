"""Benchmark of whole LLM sessions against a one-call-after-another baseline, in the same run.

Four agent workloads play against the scripted model (latency per turn, delay
per streamed chunk) with tool latencies averaging 100 ms (the built-in
``sleep`` tool). For each, in the same run:

- ``sequential_ms``: the same model (same server, same SDK) and the same calls,
  awaited one after another in process: no Kafka, no parallelism;
- ``system_ms``: the session through Kafka and a worker, from the request to
  the client receiving SessionCompleted;
- ``ideal_ms``: the model time of each turn plus the slowest call of that turn,
  both as measured in the sequential run;
- ``speedup`` = sequential / system, ``efficiency`` = ideal / system.

``streaming_ms`` / ``non_streaming_ms``: the four scenarios through the system
(sum of their medians) with streaming dispatch on and off, runs interleaved.
Streaming gains where a call other than the model's last one is the slowest of
its turn: that call starts while the model still writes the rest. Figures are
medians of ``repeats``.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import SecretStr

from async_toolformer.agents.providers import Message as ProviderMessage
from async_toolformer.agents.providers import (
    OpenAIChatProvider,
    ToolCallReady,
    ToolResultMessage,
    TurnFinished,
    TurnRequest,
    UserMessage,
)
from async_toolformer.agents.tools import load_tools
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import run_worker
from async_toolformer.streams.worker.settings import Settings

__all__ = ["SCENARIOS", "bench_script", "bench_session", "run_sequential"]

SCENARIOS: dict[str, list[list[int]]] = {
    "web_search": [[120, 60, 140, 80, 100]],
    "multi_api_fetch": [[105, 50, 150, 80, 135, 65, 120, 95]],
    "code_analysis": [[95, 145, 55, 125, 75, 135, 65, 115, 85, 105]],
    "research": [[130, 70, 100], [110, 140, 60, 90], [120, 80]],
}
"""Tool latencies (ms) of each tool turn, in the order the model asks for them (the
slowest is not always last); every scenario ends with an answer turn."""

_TIMING = {"latency_ms": 150, "token_delay_ms": 40, "chunk_chars": 16}
"""150 ms to the first token, then about 100 tokens/s: a chunk of ~4 tokens every 40 ms
(fewer, larger chunks keep the scripted server's per-chunk timer overshoot small)."""


def bench_script() -> dict[str, Any]:
    conversations = {}
    for name, turns in SCENARIOS.items():
        scripted: list[dict[str, Any]] = [
            {"text": f"Step {i + 1}: calling {len(calls)} tools.",
             "tool_calls": [{"name": "sleep", "arguments": {"ms": ms}} for ms in calls]}
            for i, calls in enumerate(turns)]
        scripted.append({"text": f"The {name.replace('_', ' ')} is done; here is the summary."})
        conversations[name] = {"turns": scripted}
    return {"defaults": _TIMING, "conversations": conversations}


async def bench_session(settings: Settings | None = None, *, repeats: int = 3,
                        ) -> dict[str, Any]:
    """All figures of ``toolformer bench session``, on the configured or embedded services.

    The worker runs as in production: with the execution ledger and the model's
    turns guarded by it, so the figures include what the guarantees cost.
    """
    async with contextlib.AsyncExitStack() as stack:
        services = await stack.enter_async_context(DevStack(settings or Settings()))
        server = await stack.enter_async_context(FakeLLMServer(bench_script()))
        provider = await stack.enter_async_context(
            OpenAIChatProvider(server.base_url, "bench", "unused", max_retries=0))
        client = await stack.enter_async_context(
            _worker_and_client(services.settings, server))
        await _system(client, "web_search", streaming=True)  # warm up: connections, partitions
        scenarios: dict[str, dict[str, float]] = {}
        streaming_total = plain_total = 0.0
        for name in SCENARIOS:
            baseline = [await run_sequential(provider, name) for _ in range(repeats)]
            system: list[float] = []
            plain: list[float] = []
            for _ in range(repeats):  # interleaved, so drift hits both modes alike
                system.append(await _system(client, name, streaming=True))
                plain.append(await _system(client, name, streaming=False))
            sequential_ms = statistics.median(b[0] for b in baseline)
            ideal_ms = statistics.median(b[1] for b in baseline)
            system_ms = statistics.median(system)
            streaming_total += system_ms
            plain_total += statistics.median(plain)
            scenarios[name] = {
                "sequential_ms": round(sequential_ms, 1), "system_ms": round(system_ms, 1),
                "ideal_ms": round(ideal_ms, 1), "speedup": round(sequential_ms / system_ms, 3),
                "efficiency": round(ideal_ms / system_ms, 3)}
    return {"scenarios": scenarios, "streaming_ms": round(streaming_total, 1),
            "non_streaming_ms": round(plain_total, 1)}


async def run_sequential(provider: OpenAIChatProvider, name: str) -> tuple[float, float]:
    """(wall ms, ideal ms): the model's turns, each call awaited after the previous one."""
    messages: list[ProviderMessage] = [UserMessage(f"[script:{name}] {uuid.uuid4().hex}")]
    ideal_ms = 0.0
    started = time.perf_counter()
    while True:
        turn_started = time.perf_counter()
        finished: TurnFinished | None = None
        async for event in provider.stream_turn(TurnRequest(tuple(messages))):
            if isinstance(event, TurnFinished):
                finished = event
        assert finished is not None
        ideal_ms += (time.perf_counter() - turn_started) * 1000
        if not finished.tool_calls:
            return (time.perf_counter() - started) * 1000, ideal_ms
        messages.append(finished.assistant_message())
        slowest = 0.0
        for call in finished.tool_calls:
            slowest = max(slowest, await _run_sleep(call))
            messages.append(ToolResultMessage(call.call_id, '{"slept_ms": 1}'))
        ideal_ms += slowest


async def _run_sleep(call: ToolCallReady) -> float:
    began = time.perf_counter()
    await asyncio.sleep(int((call.arguments or {}).get("ms", 0)) / 1000)
    return (time.perf_counter() - began) * 1000


async def _system(client: SessionClient, name: str, *, streaming: bool) -> float:
    started = time.perf_counter()
    await client.run_session(f"[script:{name}] {uuid.uuid4().hex}", tools=["sleep"],
                             options={"model": name, "streaming": streaming}, timeout_s=120)
    return (time.perf_counter() - started) * 1000


@contextlib.asynccontextmanager
async def _worker_and_client(services: Settings, server: FakeLLMServer
                             ) -> AsyncIterator[SessionClient]:
    name = f"bench{uuid.uuid4().hex[:8]}"
    settings = services.model_copy(update={
        "topic_prefix": f"{name}.", "group_id": f"{name}-workers", "worker_id": f"{name}-w1",
        "partitions": 4, "metrics_port": None, "ledger_namespace": name})
    bootstrap, _ = settings.require_services()
    llm = LLMSettings(llm_provider="openai", llm_base_url=server.base_url,
                      openai_api_key=SecretStr("bench"))
    stop = asyncio.Event()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=load_tools([]), grace_s=1,
                                            on_started=ready.set_result, llm=llm))
    await asyncio.wait_for(ready, 60)
    try:
        async with SessionClient(bootstrap, topic_prefix=settings.topic_prefix,
                                 security=KafkaSecurity.from_settings(settings)) as client:
            yield client
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)
