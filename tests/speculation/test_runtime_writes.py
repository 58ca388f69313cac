"""Speculation never answers a read with what it read before the session's own write,
and runs only what the tenant may call (real Redis, the runtime's rig)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from async_toolformer.agents.policy import Policy, TenantPolicy
from async_toolformer.agents.speculation import Prediction
from async_toolformer.agents.speculation.budget import SpeculationLimits, screen
from async_toolformer.agents.tools import tool
from async_toolformer.schemas import CallStatus, CallTimings, ToolCallCompleted
from async_toolformer.streams.worker.speculation import SpeculationRuntime
from async_toolformer.streams.worker.speculation_metrics import SpeculationMetrics

from . import test_runtime
from .test_runtime import RUNS, TOOLS, Rig, _samples

rig = test_runtime.rig  # the runtime's rig on real Redis (a fixture)

pytestmark = pytest.mark.connected

NOTES: dict[str, str] = {}


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=60)
async def read_note(token: str) -> str:
    """Read-only and cached: what speculation may run ahead."""
    RUNS[f"read_note:{token}"] += 1
    return NOTES.get(token, "")


@tool(registry=TOOLS, idempotent=True)
async def save_note(token: str, text: str) -> str:
    """Writes what ``read_note`` reads."""
    NOTES[token] = text
    return "saved"


def _result(rig: Rig, call_id: str, tool: str, session: str | None = None
            ) -> ToolCallCompleted:
    now = datetime.now(UTC)
    return ToolCallCompleted(call_id=call_id, session_id=session or rig.session, tool=tool,
                             status=CallStatus.OK, output="saved", worker_id="w",
                             timings=CallTimings(requested_at=now, received_at=now,
                                                 finished_at=now, queue_ms=0, run_ms=1))


async def test_a_read_run_before_the_sessions_write_never_answers_after_it(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    NOTES[token] = "before"
    rig.runtime.on_turn_started(rig.session, "t1", 0)
    rig.predictor.proposals = [Prediction("read_note", {"token": token}, 0.9)]
    rig.result()  # after turn 0: read_note runs ahead, and its "before" lands in the cache
    await rig.settled()
    assert RUNS[f"read_note:{token}"] == 1
    rig.predictor.proposals = []

    rig.runtime.on_turn_started(rig.session, "t1", 1)
    saved = await rig.real_call(rig.request("save_note", token=token, text="after"))
    assert saved.event.status is CallStatus.OK
    rig.runtime.on_turn_completed(rig.session, 1)
    rig.runtime.on_turn_started(rig.session, "t1", 2)
    read = await rig.real_call(rig.request("read_note", token=token))

    assert read.event.output == "after"
    assert not read.event.cached
    [wasted] = rig.journal
    assert (wasted.tool, wasted.used) == ("read_note", False)


async def test_no_run_starts_while_a_write_of_the_session_is_unanswered(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.predictor.proposals = [Prediction("read_note", {"token": token}, 0.9)]
    write = rig.request("save_note", token=token, text="x")
    rig.runtime.on_call(write)  # dispatched, not answered yet
    rig.result()  # another call's result: a run now could read before the write
    await rig.settled()
    assert RUNS[f"read_note:{token}"] == 0
    assert _samples(rig.metrics, "toolformer_speculation_refused_total")[("write_pending",)] >= 1

    rig.runtime.on_result(_result(rig, write.call_id, "save_note"), "t1")  # answered
    await rig.settled()
    assert RUNS[f"read_note:{token}"] == 1


async def test_a_wasted_runs_output_leaves_the_cache(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.runtime.on_turn_started(rig.session, "t1", 0)
    rig.predictor.proposals = [Prediction("read_note", {"token": token}, 0.9)]
    rig.result()
    await rig.settled()
    key = rig.cache.key_of("t1", TOOLS.get("read_note"), {"token": token})
    assert key is not None
    assert (await rig.cache.lookup([key]))[0] is not None  # landed

    rig.runtime.on_turn_completed(rig.session, 1)  # turn 1 did not ask for it
    async with asyncio.timeout(5):
        while (await rig.cache.lookup([key]))[0] is not None:  # noqa: ASYNC110 - Redis
            await asyncio.sleep(0.01)


def test_screen_keeps_only_tools_the_tenant_may_call() -> None:
    policy = Policy({"t1": TenantPolicy(tools=frozenset({"lookup"}))})
    predictions = [Prediction("lookup", {"token": "a"}, 0.9),
                   Prediction("read_note", {"token": "a"}, 0.8)]
    limits = SpeculationLimits()
    kept, refused = screen(predictions, "t1", TOOLS.get, limits, policy=policy)
    assert [c.tool for c in kept] == ["lookup"]
    assert refused["not_allowed"] == 1
    kept, refused = screen(predictions, "stranger", TOOLS.get, limits, policy=policy)
    assert (kept, refused["not_allowed"]) == ([], 2)
    kept, _ = screen(predictions, "stranger", TOOLS.get, limits)  # no policy: every tool
    assert len(kept) == 2


async def test_the_runtime_runs_nothing_the_tenant_may_not_call(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    runtime = SpeculationRuntime(
        predictor=rig.predictor, registry=TOOLS, cache=rig.cache, places=rig.executor,
        limits=SpeculationLimits(share=0.5), worker_max_in_flight=100,
        metrics=SpeculationMetrics(CollectorRegistry()),
        policy=Policy({"t1": TenantPolicy(tools=frozenset({"lookup"}))}))
    rig.predictor.proposals = [Prediction("read_note", {"token": token}, 0.9),
                               Prediction("lookup", {"token": token, "n": 3}, 0.8)]
    try:
        runtime.on_result(_result(rig, uuid.uuid4().hex, "lookup"), "t1")
        runtime.on_result(_result(rig, uuid.uuid4().hex, "lookup", f"{rig.session}-o"),
                          "other-tenant")
        async with asyncio.timeout(20):
            while runtime.in_flight:  # noqa: ASYNC110 - polling the runtime's count
                await asyncio.sleep(0.01)
    finally:
        await runtime.close()
    assert RUNS[f"read_note:{token}"] == 0
    assert RUNS[f"lookup:{token}:3"] == 1  # t1's, once
