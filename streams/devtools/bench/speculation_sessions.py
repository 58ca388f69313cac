"""Session wall time with and without speculation: real sessions through the real pipeline.

One embedded stack, one scripted model server (a fixed latency per turn), and two
workers side by side on their own topics and ledger namespaces: one with
``TOOLFORMER_SPECULATION`` on, one with it off; both with the result cache and the
benchmark's tools. The model's script is the workload itself: each session's turns
ask for exactly the workload's calls, whose arguments quote earlier outputs (the
tools' outputs are pure functions of their arguments). Both workers first run the
training sessions (so the speculating one learns, and both caches see the same
calls); the held-out sessions then run in waves, each wave on both workers, in
alternating order, so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.bench.speculation_tools import bench_tools
from async_toolformer.streams.devtools.bench.speculation_workload import WorkSession
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

TOOLS = ("search", "fetch", "summarise", "lookup_customer", "get_orders", "get_shipment",
         "weather", "convert", "stock_quote", "word_of_day", "save_note")


@dataclass(frozen=True, slots=True)
class SessionFigures:
    """Wall times (ms) of the held-out sessions, with and without speculation."""

    with_ms: list[float]
    without_ms: list[float]
    failed_with: int
    failed_without: int
    counters: dict[str, float]
    """The speculating worker's ``toolformer_speculation_*`` counters at the end."""

    @property
    def p50_with(self) -> float:
        return statistics.median(self.with_ms) if self.with_ms else float("nan")

    @property
    def p50_without(self) -> float:
        return statistics.median(self.without_ms) if self.without_ms else float("nan")


def session_script(sessions: Sequence[WorkSession], *, turn_latency_ms: float
                   ) -> dict[str, Any]:
    """The scripted model's conversations: one per session, its turns the workload's."""
    conversations: dict[str, Any] = {}
    for session in sessions:
        turns: list[dict[str, Any]] = [
            {"text": f"Step {i + 1}.", "tool_calls": [
                {"name": call.tool, "arguments": call.arguments} for call in turn]}
            for i, turn in enumerate(session.turns)]
        turns.append({"text": f"{session.kind} done."})
        conversations[session.session_id] = {"turns": turns}
    return {"defaults": {"latency_ms": turn_latency_ms, "token_delay_ms": 1,
                         "chunk_chars": 64},
            "conversations": conversations}


async def measure_sessions(services: Settings, training: Sequence[WorkSession],
                           held_out: Sequence[WorkSession], *, turn_latency_ms: float = 300,
                           concurrency: int = 4) -> SessionFigures:
    """Run ``training`` then ``held_out`` on a speculating worker and a plain one.

    ``services``: the settings of a started stack (:class:`DevStack`'s ``settings``).
    """
    script = session_script([*training, *held_out], turn_latency_ms=turn_latency_ms)
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(FakeLLMServer(script))
        speculating, worker = await stack.enter_async_context(
            _worker_and_client(services, server, speculation=True))
        plain, _ = await stack.enter_async_context(
            _worker_and_client(services, server, speculation=False))
        for wave in _waves(training, concurrency):
            await asyncio.gather(_wave(speculating, wave), _wave(plain, wave))
        with_ms: list[float] = []
        without_ms: list[float] = []
        failed = [0, 0]
        for number, wave in enumerate(_waves(held_out, concurrency)):
            order = [(speculating, with_ms, 0), (plain, without_ms, 1)]
            for client, into, side in order if number % 2 == 0 else order[::-1]:
                for took in await _wave(client, wave):
                    if took is None:
                        failed[side] += 1
                    else:
                        into.append(took)
        counters = speculation_counters(worker.metrics_registry)
    return SessionFigures(with_ms, without_ms, failed[0], failed[1], counters)


def speculation_counters(registry: CollectorRegistry) -> dict[str, float]:
    """Every ``toolformer_speculation_*`` sample, labels folded into the name."""
    found: dict[str, float] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.startswith("toolformer_speculation") and not sample.name.endswith(
                    "_created"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                name = sample.name.removeprefix("toolformer_speculation_")
                found[f"{name}{{{labels}}}" if labels else name] = round(sample.value, 1)
    return found


def _waves(sessions: Sequence[WorkSession], size: int) -> list[Sequence[WorkSession]]:
    return [sessions[i:i + size] for i in range(0, len(sessions), max(1, size))]


async def _wave(client: SessionClient, wave: Sequence[WorkSession]) -> list[float | None]:
    return list(await asyncio.gather(*(_session(client, s) for s in wave)))


async def _session(client: SessionClient, session: WorkSession) -> float | None:
    started = time.perf_counter()
    try:
        await client.run_session(f"[script:{session.session_id}] {uuid.uuid4().hex}",
                                 tools=TOOLS, tenant=session.tenant,
                                 options={"model": "bench"}, timeout_s=120)
    except Exception:  # a failed session is counted, not timed
        return None
    return (time.perf_counter() - started) * 1000


@contextlib.asynccontextmanager
async def _worker_and_client(services: Settings, server: FakeLLMServer, *, speculation: bool
                             ) -> AsyncIterator[tuple[SessionClient, RunningWorker]]:
    name = f"spec{'on' if speculation else 'off'}{uuid.uuid4().hex[:6]}"
    settings = services.model_copy(update={
        "topic_prefix": f"{name}.", "group_id": f"{name}-workers", "worker_id": f"{name}-w1",
        "partitions": 4, "metrics_port": None, "ledger_namespace": name,
        "speculation": speculation, "result_cache": True})
    bootstrap, _ = settings.require_services()
    llm = LLMSettings(llm_provider="openai", llm_base_url=server.base_url,
                      openai_api_key=SecretStr("bench"))
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=bench_tools(), grace_s=1,
                                            on_started=ready.set_result, llm=llm))
    running = await asyncio.wait_for(ready, 60)
    try:
        async with SessionClient(bootstrap, topic_prefix=settings.topic_prefix,
                                 security=KafkaSecurity.from_settings(settings)) as client:
            yield client, running
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)
