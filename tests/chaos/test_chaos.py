"""Chaos: three workers, thousands of calls, ``kill -9`` at random moments, restarts.

Each execution of a tool is written to Redis (by worker incarnation) before the
tool sleeps, so after the run the test knows exactly who ran what, and checks
the guarantees of DESIGN.md ("Semantics") call by call:

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

import pytest
from redis.asyncio import Redis

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.bench.replay import wait_for_members
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.settings import Settings
from async_toolformer.streams.topics import TopicCatalogue, ensure_topics

from .chaos_tools import executions_key
from .fleet import Fleet, ResultTap

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


async def test_kill_9_at_random_keeps_every_guarantee(kafka_bootstrap: str,
                                                      redis_url: str) -> None:
    name = f"chaos{uuid.uuid4().hex[:8]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        topic_prefix=f"{name}.", group_id=f"{name}-workers", partitions=6)
    topics = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(kafka_bootstrap, topics, partitions=6)
    fleet = Fleet(settings, name, {"TOOLFORMER_TOOLS": '["tests.chaos.chaos_tools"]',
                                   "TOOLFORMER_LEDGER_NAMESPACE": name,
                                   "TOOLFORMER_LEASE_MS": "2000"})
    rng = random.Random(uuid.uuid4().int)
    calls = [ToolCallRequested(call_id=f"{name}-{i}", session_id=f"{name}-s{i % 48}",
                               tool=ONCE if i % 2 else RETRY,
                               arguments={"run": name, "key": f"{name}-{i}",
                                          "ms": rng.randint(100, 1500)})
             for i in range(CALLS)]
    tool_of = {c.call_id: c.tool for c in calls}
    redis = Redis.from_url(redis_url)
    try:
        async with ToolformerClient(kafka_bootstrap, topic_prefix=topics.prefix) as client, \
                ResultTap(kafka_bootstrap, topics.results) as tap:
            for slot in range(3):
                await fleet.start(slot)
            await wait_for_members(kafka_bootstrap, settings.group_id, 3, timeout_s=60)
            await asyncio.gather(_publish(client, calls), _havoc(fleet, rng))
            missing = await tap.wait_for(set(tool_of), timeout_s=90)
        pipe = redis.pipeline(transaction=False)
        for call in calls:
            pipe.lrange(executions_key(name, call.call_id), 0, -1)
        runs = {c.call_id: [w.decode() for w in ran]
                for c, ran in zip(calls, await pipe.execute(), strict=True)}
    finally:
        await fleet.stop_all()
        await redis.aclose()

    killed = set(fleet.killed)
    results = tap.by_call
    counts: Counter[str] = Counter()
    counts["calls"], counts["kills"] = len(calls), len(killed)
    counts["result records"] = tap.records
    counts["re-emitted duplicates"] = tap.records - len(results)
    conflicting = []
    for call_id, copies in results.items():
        if any(copy != copies[0] for copy in copies[1:]):
            conflicting.append(call_id)
    for call_id, tool in tool_of.items():
        result = results[call_id][0] if results.get(call_id) else None
        ran = runs[call_id]
        counts[f"{tool}: {result.status.value if result else 'lost'}"] += 1
        counts[f"{tool}: executions {len(ran)}"] += 1
        counts[f"{tool}: claimed by a killed worker"] += (
            result is not None and (bool(set(ran) & killed)
                                    or result.status is CallStatus.INDETERMINATE))
    print(f"\nchaos {name}: killed {sorted(killed)}")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")

    assert not missing, f"{len(missing)} calls lost, e.g. {sorted(missing)[:5]}"
    assert not conflicting, f"different results for one call_id: {conflicting[:5]}"
    assert len(killed) == KILLS
    bad_retries = {c: r for c, r in runs.items()
                   if tool_of[c] == RETRY and any(w not in killed for w in r[:-1])}
    assert not bad_retries, f"re-run though its worker lived: {list(bad_retries.items())[:5]}"
    twice = {c: r for c, r in runs.items() if tool_of[c] == ONCE and len(r) > 1}
    assert not twice, f"non-idempotent calls run twice: {list(twice.items())[:5]}"
    for call_id, ran in runs.items():
        result = results[call_id][0]
        if tool_of[call_id] != ONCE:
            continue
        if not ran:  # claimed, never started: the claim died with its worker
            assert result.status is CallStatus.INDETERMINATE, (call_id, result.error)
        elif ran[0] in killed:
            assert (result.status is CallStatus.INDETERMINATE
                    or (result.status is CallStatus.OK and result.worker_id == ran[0])), (
                call_id, ran, result)
        else:
            assert result.status is CallStatus.OK, (call_id, ran, result)
            assert result.worker_id == ran[0]
    # the kills hit calls in flight, so the checks above were not vacuous
    assert counts[f"{ONCE}: indeterminate"] > 0
    assert counts[f"{RETRY}: executions 2"] > 0
