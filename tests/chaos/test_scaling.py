"""Scaling: a second and a third worker join the group under load; nothing is lost or re-run.

Joining members take partitions from the first; a partition's in-flight calls
finish on the worker that had them (its leases are alive), and the new owner,
given the same uncommitted records, is answered from the ledger. So even for a
non-idempotent tool every call runs exactly once and has one result.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import pytest
from redis.asyncio import Redis

from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.bench.replay import wait_for_members
from async_toolformer.streams.ops.group_status import group_status

from .chaos_tools import executions_key
from .fleet import Fleet, ResultTap, open_fleet

pytestmark = [pytest.mark.connected, pytest.mark.slow, pytest.mark.timeout(180)]

PUBLISH_S = 30.0
JOIN_AT_S = (5.0, 12.0)


async def _publish(client: ToolformerClient, calls: list[ToolCallRequested]) -> None:
    chunk = max(1, int(len(calls) / (PUBLISH_S / 0.25)))
    for start in range(0, len(calls), chunk):
        await client.submit(calls[start:start + chunk])
        await asyncio.sleep(0.25)


async def _grow(fleet: Fleet) -> None:
    waited = 0.0
    for slot, at in enumerate(JOIN_AT_S, start=1):
        await asyncio.sleep(at - waited)
        waited = at
        await fleet.start(slot)


async def test_second_and_third_worker_share_partitions_without_loss(
        kafka_bootstrap: str, redis_url: str) -> None:
    name = f"scale{uuid.uuid4().hex[:8]}"
    fleet, topics = await open_fleet(kafka_bootstrap, redis_url, name)
    rng = random.Random(11)
    calls = [ToolCallRequested(call_id=f"{name}-{i}", session_id=f"{name}-s{i % 60}",
                               tool="chaos_once",
                               arguments={"run": name, "key": f"{name}-{i}",
                                          "ms": rng.randint(50, 400)})
             for i in range(1800)]
    redis = Redis.from_url(redis_url)
    try:
        async with ToolformerClient(kafka_bootstrap, topic_prefix=topics.prefix) as client, \
                ResultTap(kafka_bootstrap, topics.results) as tap:
            await fleet.start(0)
            await wait_for_members(kafka_bootstrap, fleet.settings.group_id, 1, timeout_s=60)
            await asyncio.gather(_publish(client, calls), _grow(fleet))
            missing = await tap.wait_for({c.call_id for c in calls}, timeout_s=60)
            await wait_for_members(kafka_bootstrap, fleet.settings.group_id, 3, timeout_s=30)
            status = await group_status(kafka_bootstrap, fleet.settings.group_id, topics)
        pipe = redis.pipeline(transaction=False)
        for call in calls:
            pipe.llen(executions_key(name, call.call_id))
        executions = Counter(await pipe.execute())
    finally:
        await fleet.stop_all()
        await redis.aclose()

    answered_by = Counter(copies[0].worker_id for copies in tap.by_call.values())
    statuses = Counter(copies[0].status.value for copies in tap.by_call.values())
    print(f"\nscaling {name}: answered by {dict(answered_by)}; statuses {dict(statuses)}; "
          f"executions per call {dict(executions)}; {tap.records} result records for "
          f"{len(calls)} calls; group {status.state}, {len(status.members)} members, "
          f"owners {[p.owner for p in status.partitions]}")
    assert not missing, f"{len(missing)} calls lost"
    assert all(all(c == copies[0] for c in copies) for copies in tap.by_call.values())
    assert statuses == {CallStatus.OK.value: len(calls)}
    assert executions == {1: len(calls)}  # none run twice, none skipped
    assert set(answered_by) == set(fleet.started)  # each joiner took partitions
    assert len(status.members) == 3
