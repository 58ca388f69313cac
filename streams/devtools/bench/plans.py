"""Benchmark of plan mode: multi-hop work as one plan against one call per model turn.

The workload is chains of dependent calls (each call takes its ``ms`` from the
result of the one before it, through the built-in ``sleep`` tool). In the same
run, against the same scripted model (``model_latency_ms`` before each turn's
first token) and the same worker (with its execution ledger):

- ``react``: the model asks for one call per turn and sees its result before the
  next (ReAct-style): ``sum(hops) + 1`` model turns;
- ``plan``: the model writes every chain as one plan (plan mode); each step
  starts when its line is written and its input is in, the chains side by side,
  and the model is called once more to answer.

``plan_speedup`` = median react / median plan; both medians, their ranges and
each round's ratio are reported; runs alternate so drift hits both alike. A
session that fails or does not make every call counts as a miss.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from typing import Any

from async_toolformer.schemas import SessionCompleted
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.bench.session import _worker_and_client
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.worker.settings import Settings

__all__ = ["CHAINS", "measure_plan_speedup", "plan_script", "plan_text"]

CHAINS = (3, 4, 3)
"""Dependent calls in each chain of the workload."""


def plan_text(chains: tuple[int, ...], tool_ms: int) -> str:
    """The plan of ``chains``: each chain's first call sleeps ``tool_ms``, each next one as
    long as the one before it slept."""
    lines = ["I will follow every chain; each step needs the previous result."]
    step = 0
    for hops in chains:
        for hop in range(hops):
            step += 1
            argument = f"{tool_ms}" if hop == 0 else f"${step - 1}.slept_ms"
            lines.append(f"${step} = sleep(ms={argument})")
    return "\n".join([*lines, "join()"])


def plan_script(chains: tuple[int, ...], *, tool_ms: int, model_latency_ms: float
                ) -> dict[str, Any]:
    calls = sum(chains)
    react = [{"text": f"Step {i + 1} of {calls}.",
              "tool_calls": [{"name": "sleep", "arguments": {"ms": tool_ms}}]}
             for i in range(calls)]
    answer = {"text": "Every chain is done."}
    return {
        "defaults": {"latency_ms": model_latency_ms, "token_delay_ms": 10, "chunk_chars": 32},
        "conversations": {"react": {"turns": [*react, answer]},
                          "plan": {"turns": [{"text": plan_text(chains, tool_ms)}, answer]}}}


async def measure_plan_speedup(settings: Settings | None = None, *, repeats: int = 5,
                               chains: tuple[int, ...] = CHAINS, tool_ms: int = 100,
                               model_latency_ms: float = 300.0) -> dict[str, Any]:
    """``plan_speedup`` and its figures, on the configured or embedded services."""
    calls = sum(chains)
    async with contextlib.AsyncExitStack() as stack:
        services = await stack.enter_async_context(DevStack(settings or Settings()))
        server = await stack.enter_async_context(FakeLLMServer(plan_script(
            chains, tool_ms=tool_ms, model_latency_ms=model_latency_ms)))
        client = await stack.enter_async_context(_worker_and_client(services.settings, server))
        await _session(client, "react", calls)  # warm up: connections, partitions
        await _session(client, "plan", calls)
        react: list[float] = []
        plan: list[float] = []
        misses = {"react": 0, "plan": 0}
        for _ in range(repeats):
            for mode, kept in (("react", react), ("plan", plan)):
                elapsed = await _session(client, mode, calls)
                if elapsed is None:
                    misses[mode] += 1
                else:
                    kept.append(elapsed)
    if not react or not plan:
        raise RuntimeError(f"no session of a mode completed every call: misses {misses}")
    react_p50, plan_p50 = statistics.median(react), statistics.median(plan)
    return {
        "plan_speedup": round(react_p50 / plan_p50, 3),
        "react_p50_ms": round(react_p50, 1), "plan_p50_ms": round(plan_p50, 1),
        "react_range_ms": [round(min(react), 1), round(max(react), 1)],
        "plan_range_ms": [round(min(plan), 1), round(max(plan), 1)],
        "round_ratios": [round(r / p, 3) for r, p in zip(react, plan, strict=False)],
        "rounds": repeats, "misses": misses, "chains": list(chains), "tool_ms": tool_ms,
        "model_latency_ms": model_latency_ms, "react_turns": calls + 1, "plan_turns": 2,
        "target": ">= 1.8"}


async def _session(client: SessionClient, mode: str, calls: int) -> float | None:
    """Wall ms of one session of ``mode``, None if it did not end with every call made."""
    started = time.perf_counter()
    try:
        done = await client.run_session(
            f"[script:{mode}] {uuid.uuid4().hex}", tools=["sleep"],
            options={"model": mode, "plan": mode == "plan", "max_turns": calls + 2},
            timeout_s=120)
    except Exception:  # a failed session is a miss, reported with the figures
        return None
    elapsed = (time.perf_counter() - started) * 1000
    whole = isinstance(done, SessionCompleted) and done.calls == calls
    return elapsed if whole and done.stop_reason == "answer" else None
