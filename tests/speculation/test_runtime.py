"""The speculation runtime against real Redis: the ledger, the result cache, an executor.

Speculative runs go through the runtime as the worker wires it, with a stand-in
predictor that proposes what each test says; real calls go through a
:class:`CallExecutor` whose guard answers from the same cache.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from async_toolformer.agents.executor import CallExecutor, Sealed, admit
from async_toolformer.agents.executor.intake import Admission
from async_toolformer.agents.speculation import Prediction
from async_toolformer.agents.speculation.budget import SpeculationLimits
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    CallStatus,
    CallTimings,
    SpeculativeCallRan,
    ToolCallCompleted,
    ToolCallRequested,
    encode,
)
from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.ledger import ExecutionLedger
from async_toolformer.streams.redis.result_cache import Flight, ResultCache
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics
from async_toolformer.streams.worker.speculation import SpeculationRuntime
from async_toolformer.streams.worker.speculation_metrics import SpeculationMetrics

pytestmark = pytest.mark.connected

TOOLS = ToolRegistry()
RUNS: Counter[str] = Counter()
GATES: dict[str, asyncio.Event] = {}


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=60)
async def lookup(token: str, n: int = 0) -> dict[str, Any]:
    """A read-only lookup: what speculation may run."""
    RUNS[f"lookup:{token}:{n}"] += 1
    return {"token": token, "n": n, "doc": f"doc-{token}-{n}"}


@tool(registry=TOOLS, read_only=True, idempotent=True, cache_ttl_s=60)
async def gated(token: str, hold: bool = False) -> dict[str, Any]:
    """Read-only; with ``hold`` it runs until its token's gate opens (never, unless a test says)."""
    RUNS[f"gated:{token}:{hold}"] += 1
    if hold:
        await GATES.setdefault(token, asyncio.Event()).wait()
    return {"token": token, "hold": hold}


@tool(registry=TOOLS, idempotent=True)
async def send_mail(token: str) -> dict[str, Any]:
    """Has an effect: never speculated."""
    RUNS[f"send_mail:{token}"] += 1
    return {"sent": token}


@tool(registry=TOOLS, read_only=True, idempotent=True)
async def uncached(token: str) -> dict[str, Any]:
    """Read-only but declares no cache lifetime: never speculated (nowhere to land)."""
    RUNS[f"uncached:{token}"] += 1
    return {"token": token}


@dataclass
class StandIn:
    """A predictor that proposes ``proposals`` after every result and records what it is told."""

    proposals: Any = field(default_factory=list)
    raises: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    feedback_seen: list[tuple[str, bool]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)

    def observe_call(self, tenant: str, session_id: str, call_id: str, tool: str,
                     arguments: Mapping[str, Any], *, turn: str | None = None) -> None:
        self.calls.append((session_id, tool))

    def observe_result(self, tenant: str, session_id: str, call_id: str, tool: str, *,
                       status: str, value: Any) -> None:
        if self.raises:
            raise RuntimeError("a predictor bug")

    def end_session(self, tenant: str, session_id: str) -> None:
        self.ended.append(session_id)

    def predict(self, tenant: str, session_id: str) -> Any:
        if self.raises:
            raise RuntimeError("a predictor bug")
        return self.proposals

    def feedback(self, tenant: str, tool: str, used: bool) -> None:
        self.feedback_seen.append((tool, used))


@dataclass
class Rig:
    runtime: SpeculationRuntime
    predictor: StandIn
    executor: CallExecutor
    cache: ResultCache
    metrics: SpeculationMetrics
    journal: list[SpeculativeCallRan]
    published: list[Sealed]
    session: str = field(default_factory=lambda: f"s-{uuid.uuid4().hex[:8]}")

    def result(self, tool: str = "lookup") -> None:
        """The session took a result: the runtime asks the predictor what comes next."""
        self.runtime.on_result(ToolCallCompleted(
            call_id=uuid.uuid4().hex, session_id=self.session, tool=tool,
            status=CallStatus.OK, output={"any": 1}, worker_id="w",
            timings=CallTimings(requested_at=datetime.now(UTC), received_at=datetime.now(UTC),
                                finished_at=datetime.now(UTC), queue_ms=0, run_ms=1)), "t1")

    def request(self, tool: str, **arguments: Any) -> ToolCallRequested:
        return ToolCallRequested(call_id=uuid.uuid4().hex, session_id=self.session, tool=tool,
                                 tenant="t1", arguments=arguments)

    async def real_call(self, request: ToolCallRequested) -> Sealed:
        """What the session dispatches: seen by the runtime, then run by the executor."""
        self.runtime.on_call(request)
        admitted = admit(encode(request), request.session_id.encode(), TOOLS,
                         max_bytes=1_048_576)
        assert isinstance(admitted, Admission), admitted
        await self.executor.reserve()
        return await self.executor.submit(admitted.request, admitted.spec, admitted.arguments,
                                          received_at=datetime.now(UTC))

    async def settled(self) -> None:
        """Until no speculative run is under way and decided runs are journaled."""
        async with asyncio.timeout(20):
            while self.runtime.in_flight:  # noqa: ASYNC110 - polling the runtime's count
                await asyncio.sleep(0.01)
        await asyncio.sleep(0)


@pytest_asyncio.fixture(loop_scope="session")
async def rig(redis_url: str) -> AsyncIterator[Rig]:
    redis = Redis.from_url(redis_url, decode_responses=False)
    namespace = f"spec-{uuid.uuid4().hex[:10]}"
    guard = LedgerGuard(ExecutionLedger(redis, namespace=namespace, lease_ms=5_000), None,
                        worker_id="w1")
    guard.use_cache(ResultCache(redis, namespace=namespace, metrics=ResultCacheMetrics()),
                    TOOLS)
    published: list[Sealed] = []

    async def sink(sealed: Sealed) -> None:
        published.append(sealed)

    executor = CallExecutor(worker_id="w1", sink=sink, guard=guard,
                            tool_concurrency={"gated": 1})
    cache = ResultCache(redis, namespace=namespace, metrics=ResultCacheMetrics())
    metrics = SpeculationMetrics(CollectorRegistry())
    predictor = StandIn()
    runtime = SpeculationRuntime(
        predictor=predictor, registry=TOOLS, cache=cache, places=executor,
        limits=SpeculationLimits(share=0.5, max_per_result=4), worker_max_in_flight=100,
        metrics=metrics, tool_caps={"gated": 1})
    executor.on_cap_full = runtime.yield_place
    journal: list[SpeculativeCallRan] = []
    runtime.journal = journal.append
    try:
        yield Rig(runtime, predictor, executor, cache, metrics, journal, published)
    finally:
        for gate in GATES.values():
            gate.set()
        await runtime.close()
        await executor.close()
        keys = [k async for k in redis.scan_iter(match=f"*{namespace}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_used_run_answers_the_real_call_with_the_same_output(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.predictor.proposals = [Prediction("lookup", {"token": token, "n": 1}, 0.9, "test")]
    rig.result()
    await rig.settled()
    assert RUNS[f"lookup:{token}:1"] == 1  # it ran early, once

    sealed = await rig.real_call(rig.request("lookup", token=token, n=1))
    await rig.settled()

    assert RUNS[f"lookup:{token}:1"] == 1  # the real call did not run it again
    assert sealed.event.status is CallStatus.OK
    assert sealed.event.cached
    assert sealed.event.output == await lookup(token=token, n=1)  # what a run answers
    [ran] = rig.journal
    assert ran.used
    assert ran.call_id == sealed.event.call_id
    assert ran.status == "ok"
    assert ran.saved_ms > 0
    assert rig.predictor.feedback_seen == [("lookup", True)]
    assert rig.metrics.figures["hits"] == 1
    assert _gauge(rig.metrics.precision) == 1.0  # one run, used
    assert _gauge(rig.metrics.recall) == 1.0  # one speculable call, predicted

    rig.runtime.on_call(rig.request("lookup", token=token, n=2))  # nothing predicted it
    assert _gauge(rig.metrics.recall) == 0.5


async def test_a_tool_that_is_not_read_only_is_never_speculated(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.predictor.proposals = [
        Prediction("send_mail", {"token": token}, 1.0),  # has an effect
        Prediction("uncached", {"token": token}, 1.0),  # nowhere to land
    ]
    for _ in range(3):
        rig.result()
    await rig.settled()

    assert RUNS[f"send_mail:{token}"] == 0
    assert RUNS[f"uncached:{token}"] == 0
    assert rig.journal == []
    refused = _samples(rig.metrics, "toolformer_speculation_refused_total")
    assert refused[("not_read_only",)] == 6


async def test_hostile_predictions_are_bounded(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    deep: Any = token
    for _ in range(100):
        deep = [deep]
    rig.predictor.proposals = [
        "not a prediction", None, 42,
        Prediction("lookup", {"token": token}, float("nan")),
        Prediction("lookup", {"token": token}, 7.0),
        Prediction("lookup", {"token": token, "n": "seven"}, 0.9),  # invalid for the tool
        Prediction("lookup", {"token": deep}, 0.9),
        Prediction("lookup", {"token": "x" * 1_000_000}, 0.9),
        Prediction("no_such_tool", {}, 0.9),
        Prediction("x" * 10_000, {}, 0.9),
        Prediction("lookup", "not a dict", 0.9),  # type: ignore[arg-type]
        *(Prediction("lookup", {"token": token, "n": n}, 0.5) for n in range(100_000)),
    ]
    rig.result()
    await rig.settled()

    ran = sum(count for name, count in RUNS.items() if name.startswith(f"lookup:{token}"))
    assert ran == 4  # max_per_result, of the well-formed ones
    assert "x" * 1_000_000 not in RUNS
    refused = _samples(rig.metrics, "toolformer_speculation_refused_total")
    for reason in ("not_a_prediction", "bad_confidence", "invalid_arguments", "too_deep",
                   "too_large", "unknown_tool", "bad_tool", "bad_arguments", "too_many",
                   "over_budget"):
        assert refused[(reason,)] > 0, reason

    for garbage in (None, 7, "predictions", {"tool": "lookup"}):  # not even a list
        rig.predictor.proposals = garbage
        rig.result()
    rig.predictor.raises = True  # a predictor that raises stops nothing
    rig.result()
    rig.runtime.on_call(rig.request("lookup", token=token))
    await rig.settled()
    assert sum(count for name, count in RUNS.items() if name.startswith(f"lookup:{token}")) == 4


async def test_a_real_call_at_a_saturated_cap_is_not_delayed_by_a_speculative_run(
        rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.predictor.proposals = [Prediction("gated", {"token": token, "hold": True}, 0.9)]
    rig.result()
    async with asyncio.timeout(20):  # the run holds gated's only place, and never ends
        while RUNS[f"gated:{token}:True"] == 0:  # noqa: ASYNC110 - the tool's own count
            await asyncio.sleep(0.01)
    assert rig.runtime.in_flight == 1

    # The cap is full; a real call of the same tool must run anyway, at once. The held
    # run never finishes on its own, so the call could only finish by taking its place.
    sealed = await asyncio.wait_for(
        rig.real_call(rig.request("gated", token=token, hold=False)), 20)

    assert sealed.event.status is CallStatus.OK
    assert sealed.event.output == {"token": token, "hold": False}
    assert _samples(rig.metrics, "toolformer_speculation_preempted_total")[()] == 1
    await rig.settled()
    rig.runtime.on_session_end(rig.session)
    await asyncio.sleep(0)
    [ran] = rig.journal
    assert (ran.status, ran.used) == ("cancelled", False)
    key = rig.cache.key_of("t1", TOOLS.get("gated"), {"token": token, "hold": True})
    assert key is not None
    assert await rig.cache.lookup([key]) == [None]  # a cancelled run stored nothing


async def test_session_end_cancels_its_runs_and_ends_their_flights(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.predictor.proposals = [Prediction("lookup", {"token": token, "n": 5}, 0.9),
                               Prediction("gated", {"token": f"{token}-free", "hold": True},
                                          0.8)]
    rig.runtime.on_turn_started(rig.session, "t1", 0)
    rig.result()
    async with asyncio.timeout(20):
        while RUNS[f"gated:{token}-free:True"] == 0 or rig.runtime.in_flight != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    rig.runtime.on_session_end(rig.session)
    await rig.settled()

    assert rig.session in rig.predictor.ended
    by_tool = {ran.tool: ran for ran in rig.journal}
    assert (by_tool["gated"].status, by_tool["gated"].used) == ("cancelled", False)
    assert (by_tool["lookup"].status, by_tool["lookup"].used) == ("ok", False)
    assert by_tool["lookup"].run_ms > 0
    wasted = _samples(rig.metrics, "toolformer_speculation_wasted_tool_ms_total")[()]
    assert wasted >= by_tool["lookup"].run_ms
    key = rig.cache.key_of("t1", TOOLS.get("gated"), {"token": f"{token}-free", "hold": True})
    assert key is not None
    [opening] = await rig.cache.begin([key])
    assert isinstance(opening, Flight)  # no flight left behind: a real call runs at once
    await rig.cache.finish([(opening, None)])


async def test_a_turn_that_did_not_ask_for_a_run_wastes_it(rig: Rig) -> None:
    token = uuid.uuid4().hex[:8]
    rig.runtime.on_turn_started(rig.session, "t1", 0)
    rig.predictor.proposals = [Prediction("gated", {"token": f"{token}-a", "hold": True}, 0.9)]
    rig.result()  # after turn 0's results: aims at turn 1
    rig.runtime.on_turn_started(rig.session, "t1", 1)
    rig.predictor.proposals = [Prediction("lookup", {"token": f"{token}-b"}, 0.9)]
    rig.result()  # a result arriving while turn 1 streams: aims at turn 2
    await asyncio.sleep(0.05)

    rig.runtime.on_turn_completed(rig.session, 1)
    await rig.settled()

    [wasted] = rig.journal
    assert (wasted.tool, wasted.status, wasted.used) == ("gated", "cancelled", False)
    assert rig.predictor.feedback_seen == [("gated", False)]
    rig.runtime.on_turn_completed(rig.session, 2)  # turn 2 did not ask for it either
    await asyncio.sleep(0)
    assert [ran.tool for ran in rig.journal] == ["gated", "lookup"]


def _samples(metrics: SpeculationMetrics, name: str) -> dict[tuple[str, ...], float]:
    """The current values of metric ``name`` by label values."""
    found: dict[tuple[str, ...], float] = {}
    for family in (metrics.refused, metrics.preempted, metrics.wasted_ms):
        for metric in family.collect():
            for sample in metric.samples:
                if sample.name == name:
                    found[tuple(sample.labels.values())] = sample.value
    return found


def _gauge(gauge: Any) -> float:
    [metric] = gauge.collect()
    [sample] = metric.samples
    return float(sample.value)
