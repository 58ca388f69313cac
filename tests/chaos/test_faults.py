"""Chaos, one fault at a time: SIGTERM mid-call, Redis restarted, Redis paused, workers coming
and going, each under a modest load of a non-idempotent tool.

Every execution is appended to a file by the tool itself (``CHAOS_EXECUTIONS_FILE``,
:mod:`.chaos_tools`), outside the ledger's Redis, so a ledger that is lost cannot
hide a second run. Each test runs its own redis-server as the ledger and checks,
call by call (docs/semantics.md, sections 2 and 6):

- nothing is lost, and every copy of a call's result is the same event;
- no call ran twice;
- ``ok`` only for a call that ran once, on the worker that answered; otherwise
  ``indeterminate``, and only where the fault allows it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested
from async_toolformer.streams.client import ToolformerClient
from async_toolformer.streams.devtools.bench.replay import wait_for_members
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)

from .chaos_tools import read_executions
from .fleet import Fleet, ResultTap, open_fleet

pytestmark = [pytest.mark.connected, pytest.mark.slow, pytest.mark.timeout(300)]

ONCE = "chaos_once"
# A short lease, so a claim left by a stopped worker ends soon; a short socket
# timeout, so a paused Redis is noticed within the lease.
ENV = {"TOOLFORMER_LEASE_MS": "2000", "TOOLFORMER_REDIS_SOCKET_TIMEOUT_S": "1"}

Fault = Callable[[Fleet], Awaitable[None]]


@dataclass
class FaultRun:
    """Who answered what, and who ran what, for every call of one test."""

    calls: list[ToolCallRequested]
    results: dict[str, list[ToolCallCompleted]]
    missing: set[str]
    runs: dict[str, list[str]]
    fleet: Fleet

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for call in self.calls:
            copies = self.results.get(call.call_id)
            counts[copies[0].status.value if copies else "lost"] += 1
            counts[f"executions {len(self.runs.get(call.call_id, []))}"] += 1
        return counts


def _calls(name: str, count: int, ms: Callable[[random.Random], int]) -> list[ToolCallRequested]:
    rng = random.Random(uuid.uuid4().int)
    return [ToolCallRequested(call_id=f"{name}-{i}", session_id=f"{name}-s{i % 24}", tool=ONCE,
                              arguments={"run": name, "key": f"{name}-{i}", "ms": ms(rng)})
            for i in range(count)]


async def _publish(client: ToolformerClient, calls: list[ToolCallRequested],
                   over_s: float) -> None:
    steps = max(1, int(over_s / 0.25))
    chunk = max(1, -(-len(calls) // steps))
    for start in range(0, len(calls), chunk):
        await client.submit(calls[start:start + chunk])
        await asyncio.sleep(0.25)


async def _run(kafka_bootstrap: str, redis: RedisServerProcess, tmp_path: Path, *,
               calls_of: Callable[[str], list[ToolCallRequested]], workers: int,
               fault: Fault, publish_s: float, wait_s: float = 120) -> FaultRun:
    name = f"fault{uuid.uuid4().hex[:8]}"
    oracle = tmp_path / "executions.tsv"
    fleet, topics = await open_fleet(kafka_bootstrap, redis.url, name,
                                     {**ENV, "CHAOS_EXECUTIONS_FILE": str(oracle)})
    calls = calls_of(name)
    try:
        async with ToolformerClient(kafka_bootstrap, topic_prefix=topics.prefix) as client, \
                ResultTap(kafka_bootstrap, topics.results) as tap:
            for slot in range(workers):
                await fleet.start(slot)
            await wait_for_members(kafka_bootstrap, fleet.settings.group_id, workers,
                                   timeout_s=60)
            await asyncio.gather(_publish(client, calls, publish_s), fault(fleet))
            missing = await tap.wait_for({c.call_id for c in calls}, timeout_s=wait_s)
    finally:
        await fleet.stop_all()
    run = FaultRun(calls, dict(tap.by_call), missing, read_executions(str(oracle)), fleet)
    print(f"\n{name}: {dict(sorted(run.counts().items()))}; started {fleet.started}, "
          f"stopped {fleet.stopped}")
    return run


def _check(run: FaultRun, *, indeterminate_if: Callable[[list[str]], bool]) -> None:
    """The guarantees; ``indeterminate_if(ran)`` says where ``indeterminate`` is allowed."""
    assert not run.missing, f"{len(run.missing)} calls lost, e.g. {sorted(run.missing)[:5]}"
    for call in run.calls:
        copies = run.results[call.call_id]
        assert all(copy == copies[0] for copy in copies[1:]), f"{call.call_id}: {copies}"
        ran = run.runs.get(call.call_id, [])
        assert len(ran) <= 1, f"{call.call_id} ran twice: {ran}"
        result = copies[0]
        if result.status is CallStatus.OK:
            assert ran == [result.worker_id], (call.call_id, ran, result.worker_id)
        else:
            assert result.status is CallStatus.INDETERMINATE, (call.call_id, result.error)
            assert indeterminate_if(ran), (call.call_id, ran, result.error)


async def _started(path: Path, at_least: int, timeout_s: float = 60) -> None:
    async with asyncio.timeout(timeout_s):
        while True:  # the tools write the file from other processes: poll it
            if sum(len(w) for w in read_executions(str(path)).values()) >= at_least:
                return
            await asyncio.sleep(0.1)


async def test_sigterm_during_calls_longer_than_the_grace_period(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        tmp_path: Path) -> None:
    """A stopped worker cuts its calls after the 10 s grace; none may run again."""
    redis = await redis_process_factory()
    count = 36

    async def sigterm_mid_call(fleet: Fleet) -> None:
        await _started(tmp_path / "executions.tsv", count)  # all running, on both workers
        await fleet.terminate(0)

    run = await _run(kafka_bootstrap, redis, tmp_path, workers=2, publish_s=0.5,
                     calls_of=lambda name: _calls(name, count, lambda _: 14_000),
                     fault=sigterm_mid_call)

    [stopped] = run.fleet.stopped
    _check(run, indeterminate_if=lambda ran: ran == [stopped])
    counts = run.counts()
    # the stopped worker had calls running past its grace, and none ran again
    assert counts["indeterminate"] > 0
    assert counts["ok"] > 0
    assert counts["executions 1"] == count


async def test_ledger_redis_restarted_without_persistence_mid_call(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        tmp_path: Path) -> None:
    """Claims and records in flight are lost; calls in flight end indeterminate, none re-run."""
    redis = await redis_process_factory()

    async def restart_redis(fleet: Fleet) -> None:
        await _started(tmp_path / "executions.tsv", 40)
        await redis.restart()  # an empty Redis at the same URL

    run = await _run(kafka_bootstrap, redis, tmp_path, workers=2, publish_s=6,
                     calls_of=lambda name: _calls(name, 160, lambda r: r.randint(500, 2500)),
                     fault=restart_redis)

    _check(run, indeterminate_if=lambda ran: True)  # any call claimed before the restart
    counts = run.counts()
    assert counts["indeterminate"] > 0  # the restart hit calls in flight
    assert counts["ok"] > 0


async def test_ledger_redis_paused_longer_than_the_lease(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        tmp_path: Path) -> None:
    """SIGSTOP for three leases on live workers, then SIGCONT: nothing runs twice or is lost."""
    redis = await redis_process_factory()

    async def pause_redis(fleet: Fleet) -> None:
        await _started(tmp_path / "executions.tsv", 30)
        assert redis.pid is not None
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(6.0)
        finally:
            os.kill(redis.pid, signal.SIGCONT)

    run = await _run(kafka_bootstrap, redis, tmp_path, workers=2, publish_s=6,
                     calls_of=lambda name: _calls(name, 150, lambda r: r.randint(500, 3000)),
                     fault=pause_redis)

    # A lease that expired in the pause reads as a takeover when the call is claimed
    # again, started or not: the ledger cannot tell, so indeterminate is allowed
    # (seen once in several runs for a call that never ran).
    _check(run, indeterminate_if=lambda ran: True)
    assert run.counts()["ok"] > 0


async def test_workers_join_and_leave_under_load(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        tmp_path: Path) -> None:
    """A third worker joins, one leaves (SIGTERM) and comes back while calls flow."""
    redis = await redis_process_factory()

    async def churn(fleet: Fleet) -> None:
        group = fleet.settings.group_id
        await asyncio.sleep(3)
        await fleet.start(2)
        await wait_for_members(kafka_bootstrap, group, 3, timeout_s=60)
        await asyncio.sleep(4)  # the joiner takes partitions and calls
        await fleet.terminate(0)
        await asyncio.sleep(2)
        await fleet.start(0)

    run = await _run(kafka_bootstrap, redis, tmp_path, workers=2, publish_s=30,
                     calls_of=lambda name: _calls(name, 300, lambda r: r.randint(100, 800)),
                     fault=churn)

    # calls run within a grace period, so a leaving worker finishes them: all ok,
    # unless one ran on the worker that left
    _check(run, indeterminate_if=lambda ran: bool(ran) and ran[0] in run.fleet.stopped)
    answered_by = Counter(copies[0].worker_id for copies in run.results.values())
    print(f"answered by {dict(answered_by)}")  # which joiner got work is up to the group
    assert len(run.fleet.started) == 4
    assert run.fleet.stopped == [run.fleet.started[0]]
