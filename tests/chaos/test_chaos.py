"""Chaos: three workers, thousands of calls, ``kill -9`` at random moments, restarts.

Each execution of a tool is written to Redis (by worker incarnation) before the
tool sleeps, so after the run the test knows exactly who ran what, and checks
the guarantees of docs/semantics.md call by call:

- every call_id has exactly one terminal result after dedupe (every copy of its
  result is the same event), and none is lost;
- idempotent tool: a call runs more than once only if every run but the last
  was by a worker that was killed;
- non-idempotent tool: no call runs twice; a call that a killed worker had
  claimed is ``indeterminate`` or answered by its one execution.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.bench.replay import wait_for_members

from .chaos_tools import executions_key
from .fleet import Fleet, ResultTap, open_fleet

pytestmark = [pytest.mark.connected, pytest.mark.slow, pytest.mark.timeout(300)]

CALLS = 3000
PUBLISH_S = 30.0
KILLS = 5
ONCE, RETRY = "chaos_once", "chaos_retry"


async def _publish(client: ToolformerClient, calls: list[ToolCallRequested]) -> None:
    chunk = max(1, int(len(calls) / (PUBLISH_S / 0.25)))
    for start in range(0, len(calls), chunk):
        await client.submit(calls[start:start + chunk])
        await asyncio.sleep(0.25)


async def _havoc(fleet: Fleet, rng: random.Random) -> None:
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(3.0, 5.5))
        slot = rng.choice(sorted(fleet.running))
        fleet.kill(slot)
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        await fleet.start(slot)


@dataclass
class ChaosRun:
    """What happened: who was killed, every result copy, every execution per call."""

    name: str
    tool_of: dict[str, str]
    killed: set[str]
    results: dict[str, list[ToolCallCompleted]]
    result_records: int
    runs: dict[str, list[str]]
    missing: set[str]


async def _run_chaos(kafka_bootstrap: str, redis_url: str) -> ChaosRun:
    name = f"chaos{uuid.uuid4().hex[:8]}"
    fleet, topics = await open_fleet(kafka_bootstrap, redis_url, name,
                                     {"TOOLFORMER_LEASE_MS": "2000"})
    rng = random.Random(uuid.uuid4().int)
    calls = [ToolCallRequested(call_id=f"{name}-{i}", session_id=f"{name}-s{i % 48}",
                               tool=ONCE if i % 2 else RETRY,
                               arguments={"run": name, "key": f"{name}-{i}",
                                          "ms": rng.randint(100, 1500)})
             for i in range(CALLS)]
    redis = Redis.from_url(redis_url)
    try:
        async with ToolformerClient(kafka_bootstrap, topic_prefix=topics.prefix) as client, \
                ResultTap(kafka_bootstrap, topics.results) as tap:
            for slot in range(3):
                await fleet.start(slot)
            await wait_for_members(kafka_bootstrap, fleet.settings.group_id, 3, timeout_s=60)
            await asyncio.gather(_publish(client, calls), _havoc(fleet, rng))
            missing = await tap.wait_for({c.call_id for c in calls}, timeout_s=90)
        pipe = redis.pipeline(transaction=False)
        for call in calls:
            pipe.lrange(executions_key(name, call.call_id), 0, -1)
        runs = {c.call_id: [w.decode() for w in ran]
                for c, ran in zip(calls, await pipe.execute(), strict=True)}
    finally:
        await fleet.stop_all()
        await redis.aclose()
    return ChaosRun(name, {c.call_id: c.tool for c in calls}, set(fleet.killed),
                    dict(tap.by_call), tap.records, runs, missing)


def _print_counts(run: ChaosRun) -> Counter[str]:
    counts: Counter[str] = Counter()
    counts["calls"], counts["kills"] = len(run.tool_of), len(run.killed)
    counts["result records"] = run.result_records
    counts["re-emitted duplicates"] = run.result_records - len(run.results)
    for call_id, tool in run.tool_of.items():
        copies = run.results.get(call_id)
        ran = run.runs[call_id]
        counts[f"{tool}: {copies[0].status.value if copies else 'lost'}"] += 1
        counts[f"{tool}: executions {len(ran)}"] += 1
        counts[f"{tool}: first run by a killed worker"] += bool(ran) and ran[0] in run.killed
    print(f"\nchaos {run.name}: killed {sorted(run.killed)}")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")
    errors = Counter(f"{r[0].tool} {r[0].error.type}: {r[0].error.message}"
                     for r in run.results.values()
                     if r[0].error is not None and r[0].status is not CallStatus.INDETERMINATE)
    for error, n in errors.most_common(5):
        print(f"  error x{n}: {error}")
    return counts


def _check_non_idempotent(call_id: str, ran: list[str], result: ToolCallCompleted,
                          killed: set[str]) -> None:
    assert len(ran) <= 1, f"{call_id} ran twice: {ran}"
    if not ran:  # claimed, never started: the claim died with its worker
        assert result.status is CallStatus.INDETERMINATE, (call_id, result.error)
    elif ran[0] in killed:  # in flight, perhaps, when its worker died
        assert (result.status is CallStatus.INDETERMINATE
                or (result.status is CallStatus.OK and result.worker_id == ran[0])), (
            call_id, ran, result)
    else:
        assert result.status is CallStatus.OK, (call_id, ran, result.error)
        assert result.worker_id == ran[0], (call_id, ran, result.worker_id)


async def test_kill_9_at_random_keeps_every_guarantee(kafka_bootstrap: str,
                                                      redis_url: str) -> None:
    run = await _run_chaos(kafka_bootstrap, redis_url)

    counts = _print_counts(run)

    assert not run.missing, f"{len(run.missing)} calls lost, e.g. {sorted(run.missing)[:5]}"
    conflicting = [c for c, copies in run.results.items()
                   if any(copy != copies[0] for copy in copies[1:])]
    assert not conflicting, f"different results for one call_id: {conflicting[:5]}"
    assert len(run.killed) == KILLS
    for call_id, ran in run.runs.items():
        if run.tool_of[call_id] == RETRY:
            assert all(w in run.killed for w in ran[:-1]), f"{call_id} re-run: {ran}"
            assert run.results[call_id][0].status is CallStatus.OK
        else:
            _check_non_idempotent(call_id, ran, run.results[call_id][0], run.killed)
    # the kills hit calls in flight, so the checks above were not vacuous
    assert counts[f"{ONCE}: indeterminate"] > 0
    assert counts[f"{RETRY}: executions 2"] > 0
