"""Many sessions at once from one client process: efficiency and CPU per session.

``toolformer bench session --concurrency 1,10,100,300``. At each level N, N
sessions start together from one ``SessionClient`` against one worker, with
the scenarios of the single-session benchmark (session ``i`` plays scenario
``i mod 4``, streaming dispatch on). Each session's ``efficiency`` is its
scenario's ideal time (model time of each turn plus the slowest call of that
turn, measured one session at a time first, as in ``bench session``) over the
time from its request to its SessionCompleted.

The worker and the scripted model server run as processes of their own, so
each side's CPU time is its own: the client's is ``time.process_time`` of this
process (the client plus the benchmark's bookkeeping), the worker's and the
model server's are read from ``/proc/<pid>/stat``. Per level: efficiency p50
and p10 over all sessions of its rounds, sessions per second (N over the wall
time from the first request to the last answer, median of the rounds), CPU
milliseconds per session of each side, and the sessions that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from async_toolformer.agents.providers import OpenAIChatProvider
from async_toolformer.schemas import SessionTimings
from async_toolformer.schemas.exceptions import ToolformerError
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.bench.harness import (
    cpu_seconds,
    percentile,
    spawn,
    terminate,
)
from async_toolformer.streams.devtools.bench.pipeline import worker_env
from async_toolformer.streams.devtools.bench.session import SCENARIOS, bench_script, run_sequential
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings

__all__ = ["bench_session_load"]

_PARTITIONS = 4


async def bench_session_load(settings: Settings | None, levels: Sequence[int], *,
                             repeats: int = 1) -> dict[str, Any]:
    """Figures of ``toolformer bench session --concurrency``, level by level."""
    if not levels or min(levels) < 1:
        raise ValueError("each concurrency level is at least 1")
    async with contextlib.AsyncExitStack() as stack:
        services = await stack.enter_async_context(DevStack(settings or Settings()))
        model_pid, base_url = await stack.enter_async_context(_model_server())
        async with OpenAIChatProvider(base_url, "bench", "unused", max_retries=0) as provider:
            ideal = {name: statistics.median([(await run_sequential(provider, name))[1]
                                              for _ in range(3)]) for name in SCENARIOS}
        worker_pid, client = await stack.enter_async_context(
            _worker_and_client(services.settings, base_url))
        report: dict[str, Any] = {
            "ideal_ms": {name: round(ms, 1) for name, ms in ideal.items()}, "levels": {}}
        for n in levels:
            rounds = [await _round(client, n, ideal, worker_pid, model_pid)
                      for _ in range(repeats)]
            report["levels"][str(n)] = _summary(n, rounds)
    return report


async def _round(client: SessionClient, n: int, ideal: dict[str, float], worker_pid: int,
                 model_pid: int) -> dict[str, Any]:
    names = list(SCENARIOS)
    cpu = (time.process_time(), cpu_seconds(worker_pid), cpu_seconds(model_pid))
    started = time.perf_counter()
    timed = await asyncio.gather(*(_timed(client, names[i % len(names)]) for i in range(n)))
    wall_s = time.perf_counter() - started
    done = [(name, ms, t) for name, ms, t in timed if ms is not None and t is not None]
    return {
        "efficiencies": [ideal[name] / ms for name, ms, _ in done],
        # where a session's time went: outside the worker's session (request to the
        # worker, the end back to the client), the model, the tools, and the rest
        "outside_ms": [ms - t.wall_ms for _, ms, t in done],
        "model_ms": [t.llm_ms for _, _, t in done],
        "tools_ms": [t.tool_ms for _, _, t in done],
        "between_ms": [t.wall_ms - t.llm_ms - t.tool_ms for _, _, t in done],
        "failed": sum(ms is None for _, ms, _ in timed), "wall_s": wall_s,
        "client_cpu_s": time.process_time() - cpu[0],
        "worker_cpu_s": cpu_seconds(worker_pid) - cpu[1],
        "model_cpu_s": cpu_seconds(model_pid) - cpu[2]}


async def _timed(client: SessionClient, name: str
                 ) -> tuple[str, float | None, SessionTimings | None]:
    started = time.perf_counter()
    try:
        done = await client.run_session(f"[script:{name}] {uuid.uuid4().hex}", tools=["sleep"],
                                        options={"model": name, "streaming": True},
                                        timeout_s=300)
    except ToolformerError:
        return name, None, None
    return name, (time.perf_counter() - started) * 1000, done.timings


def _summary(n: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    efficiencies = [e for r in rounds for e in r["efficiencies"]]
    sessions = n * len(rounds)

    def per_session_ms(side: str) -> float:
        return round(1000 * sum(float(r[side]) for r in rounds) / sessions, 2)

    return {
        "sessions": sessions, "failed": sum(r["failed"] for r in rounds),
        "efficiency_p50": round(statistics.median(efficiencies), 3) if efficiencies else None,
        "efficiency_p10": round(percentile(efficiencies, 0.1), 3) if efficiencies else None,
        "sessions_per_s": round(statistics.median(n / r["wall_s"] for r in rounds), 2),
        "client_cpu_ms_per_session": per_session_ms("client_cpu_s"),
        "worker_cpu_ms_per_session": per_session_ms("worker_cpu_s"),
        "model_cpu_ms_per_session": per_session_ms("model_cpu_s"),
        "p50_ms": {part: _p50([v for r in rounds for v in r[part]])
                   for part in ("outside_ms", "model_ms", "tools_ms", "between_ms")}}


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


@contextlib.asynccontextmanager
async def _model_server() -> AsyncIterator[tuple[int, str]]:
    """The scripted model in a process of its own: (its pid, its OpenAI base URL)."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "script.json"
        script.write_bytes(orjson.dumps(bench_script()))
        port = free_port()
        process = await spawn(["async_toolformer.streams.cli", "fake-llm", "--script",
                               str(script), "--port", str(port), "--host", LOOPBACK], {})
        try:
            await _wait_listening(process, port)
            yield process.pid, f"http://{LOOPBACK}:{port}/v1"
        finally:
            await terminate(process)


async def _wait_listening(process: asyncio.subprocess.Process, port: int) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise RuntimeError(f"the scripted model server exited ({process.returncode})")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.close()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the scripted model server did not listen on {port} within 30 s")


@contextlib.asynccontextmanager
async def _worker_and_client(services: Settings, base_url: str
                             ) -> AsyncIterator[tuple[int, SessionClient]]:
    """A worker process on fresh topics and a client that has seen it answer."""
    run = f"load{uuid.uuid4().hex[:8]}"
    settings = services.model_copy(update={"topic_prefix": f"{run}.", "partitions": _PARTITIONS})
    bootstrap, _ = settings.require_services()
    security = KafkaSecurity.from_settings(settings)
    await ensure_topics(bootstrap, TopicCatalogue(settings.topic_prefix), partitions=_PARTITIONS,
                        security=security)
    worker = await spawn(["async_toolformer.streams.cli", "worker"], {
        **worker_env(settings, run), "TOOLFORMER_LLM_PROVIDER": "openai",
        "TOOLFORMER_LLM_BASE_URL": base_url, "OPENAI_API_KEY": "bench",
        "TOOLFORMER_LLM_MAX_RETRIES": "0"})
    try:
        async with SessionClient(bootstrap, topic_prefix=settings.topic_prefix,
                                 security=security) as client:
            for name in SCENARIOS:  # warm up: the group forms, connections open
                await client.run_session(f"[script:{name}] warm-up {uuid.uuid4().hex}",
                                         tools=["sleep"], options={"model": name},
                                         timeout_s=120)
            yield worker.pid, client
    finally:
        await terminate(worker)
