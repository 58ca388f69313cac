"""``toolformer bench scaling``: what a second worker adds, and what joining and leaving cost.

Workers are ``toolformer worker`` processes in one group on the embedded stack
(or the configured services). Their only tool is ``io_wait``
(:mod:`.scaling_tools`): ``ms`` of waiting, like a remote call, under a
per-tool cap of ``concurrency`` per worker (``TOOLFORMER_TOOL_CONCURRENCY``), so
one worker completes at most ``concurrency / ms`` calls a second however fast
it is, and a second worker should double that. Figures:

- ``capacity_ratio``: seconds for a burst of ``burst`` calls on one worker over
  the same on two, each after the group is stable (target: at least 1.8).
- ``join_gap_ms`` / ``leave_gap_ms``: while calls flow steadily (``steady_rate``:
  ``rate`` a second, or half of what one worker just managed if that is less),
  the longest time without a new result from the moment a second worker is
  started until the group is stable with both and ``settle_s`` more, and the
  same from a graceful stop (SIGTERM) of one of them (target: at most twice the
  group's session timeout). ``steady_gap_ms`` is the same measure over
  ``steady_s`` with no one joining or leaving, the baseline.
- ``lost``: calls with no result at the end; ``run_twice``: calls whose tool ran
  more than once, counted by the tool itself outside the ledger. Both over every
  call of the run, the rebalances included (target: 0). ``indeterminate``: calls
  answered so because a lease was taken over (their tool is not idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from async_toolformer.schemas import ToolCallRequested, encode
from async_toolformer.streams.devtools.bench.harness import spawn, terminate
from async_toolformer.streams.devtools.bench.replay import wait_for_members, worker_env
from async_toolformer.streams.devtools.bench.scaling_tools import (
    EXECUTIONS_DIR_ENV,
    count_executions,
    executions_by_process,
)
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.worker.settings import Settings

__all__ = ["ScalingParams", "bench_scaling", "longest_gap_ms"]

_TOOLS_MODULE = "async_toolformer.streams.devtools.bench.scaling_tools"


@dataclass(frozen=True, slots=True)
class ScalingParams:
    """The workload; the defaults give one worker a capacity of 500 calls/s."""

    concurrency: int = 50
    ms: int = 100
    burst: int = 3_000
    rate: float = 200.0
    steady_s: float = 3.0
    settle_s: float = 2.0
    partitions: int = 8
    timeout_s: float = 120.0


async def bench_scaling(settings: Settings, params: ScalingParams | None = None
                        ) -> dict[str, Any]:
    """All figures of one run; services from the settings or the embedded stack."""
    p = params or ScalingParams()
    run = f"bsc{uuid.uuid4().hex[:8]}"
    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}.",
                                                    "partitions": p.partitions})) as stack:
        base = stack.settings
        assert base.kafka_bootstrap_servers is not None
        topics = stack.catalogue
        with tempfile.TemporaryDirectory(prefix="toolformer-scaling-") as folder:
            env = {**worker_env(base, prefix=topics.prefix, group=f"{run}-workers",
                                namespace=run),
                   "TOOLFORMER_TOOLS": orjson.dumps([_TOOLS_MODULE]).decode(),
                   "TOOLFORMER_TOOL_CONCURRENCY": orjson.dumps({"io_wait": p.concurrency}
                                                               ).decode(),
                   EXECUTIONS_DIR_ENV: folder}
            security = KafkaSecurity.from_settings(base)
            flow = _Flow(base.kafka_bootstrap_servers, topics, run, p.ms, security=security)
            async with flow, _Workers(env, f"{run}-workers", base.kafka_bootstrap_servers,
                                      security=security) as workers:
                figures = await _measure(flow, workers, p)
                missing = await flow.wait_all(p.timeout_s)
            executions = count_executions(Path(folder))
            by_process = executions_by_process(Path(folder))
    second = set(flow.bursts[-1]) if flow.bursts else set()
    return {
        **figures,
        # how the two-worker burst was shared out: many more on one means the
        # group's assignment, not the workers, set the capacity
        "two_workers_split": sorted((sum(t in second for t in tags)
                                     for tags in by_process.values()), reverse=True),
        "lost": len(missing),
        "run_twice": sum(1 for n in executions.values() if n > 1),
        "indeterminate": flow.indeterminate,
        "calls": len(flow.sent),
        "executions": sum(executions.values()),
        "session_timeout_ms": base.session_timeout_s * 1000,
        "gap_target_ms": 2 * base.session_timeout_s * 1000,
        "concurrency": p.concurrency,
        "ms": p.ms,
        "burst": p.burst,
        "rate": p.rate,
        "partitions": p.partitions,
    }


async def _measure(flow: _Flow, workers: _Workers, p: ScalingParams) -> dict[str, Any]:
    await workers.start(1)
    one_s = await flow.burst(p.burst, p.timeout_s)
    # Steady means below what one worker manages here and now, or a backlog would
    # grow through the whole run (a loaded machine can take a third off the ideal).
    rate = min(p.rate, _STEADY_SHARE * p.burst / one_s)
    async with flow.steady(rate):
        await asyncio.sleep(_WARM_S)
        steady_gap, _ = await _window(flow, asyncio.sleep(p.steady_s))
        join_gap, join_s = await _window(flow, workers.start(2), p.settle_s)
    await flow.wait_all(p.timeout_s)  # the burst on two starts with nothing left over
    two_s = await flow.burst(p.burst, p.timeout_s)
    async with flow.steady(rate):
        await asyncio.sleep(_WARM_S)
        leave_gap, leave_s = await _window(flow, workers.stop_one(1), p.settle_s)
    return {
        "capacity_ratio": one_s / two_s,
        "one_worker_calls_per_s": p.burst / one_s,
        "two_workers_calls_per_s": p.burst / two_s,
        "ideal_calls_per_s_per_worker": p.concurrency * 1000 / p.ms,
        "steady_rate": rate,
        "steady_gap_ms": steady_gap,
        "join_gap_ms": join_gap,
        "join_s": join_s,
        "leave_gap_ms": leave_gap,
        "leave_s": leave_s,
    }


_WARM_S = 1.0  # of steady flow before a window opens, so it starts with results flowing
_STEADY_SHARE = 0.5  # of one worker's measured capacity, at most, for the steady flow
_GROUP_WAIT_S = 300.0  # for a worker to start and the group to settle (minutes when loaded)


async def _window(flow: _Flow, change: Awaitable[object], settle_s: float = 0.0
                  ) -> tuple[float, float]:
    """The longest gap between results (ms) while ``change`` runs and ``settle_s`` after
    it, and how long that was (s, the change alone)."""
    started = time.monotonic()
    await change
    changed = time.monotonic()
    await asyncio.sleep(settle_s)
    return longest_gap_ms(flow.arrived.values(), started, time.monotonic()), changed - started


@dataclass
class _Workers:
    """Worker processes in one group; ``start(n)`` waits until the group is stable with n."""

    env: dict[str, str]
    group: str
    bootstrap: str
    security: KafkaSecurity
    children: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def __aenter__(self) -> _Workers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for child in self.children:
            await terminate(child)

    async def start(self, members: int) -> None:
        index = len(self.children)
        self.children.append(await spawn(["async_toolformer.streams.cli", "worker"], {
            **self.env, "TOOLFORMER_WORKER_ID": f"{self.group}-{index}"}))
        await wait_for_members(self.bootstrap, self.group, members, timeout_s=_GROUP_WAIT_S,
                               security=self.security)

    async def stop_one(self, members_left: int) -> None:
        """SIGTERM the newest worker: it finishes or hands back its calls, and leaves."""
        await terminate(self.children.pop())
        await wait_for_members(self.bootstrap, self.group, members_left,
                               timeout_s=_GROUP_WAIT_S, security=self.security)


@dataclass
class _Flow:
    """Sends ``io_wait`` calls and notes when each call's first result arrives."""

    bootstrap: str
    topics: TopicCatalogue
    run: str
    ms: int
    security: KafkaSecurity
    sent: dict[str, float] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)
    indeterminate: int = 0
    bursts: list[list[str]] = field(default_factory=list)
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None
    _reader: asyncio.Task[None] | None = None
    _news: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> _Flow:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=2,
                                          **self.security.client_options())
        self._consumer = AIOKafkaConsumer(self.topics.results, bootstrap_servers=self.bootstrap,
                                          **self.security.client_options(),
                                          auto_offset_reset="earliest", fetch_max_wait_ms=5,
                                          max_poll_records=5000)
        await self._producer.start()
        await self._consumer.start()
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def burst(self, calls: int, timeout_s: float) -> float:
        """Send ``calls`` at once; seconds until the last of them has a result."""
        started = time.monotonic()
        ids = [await self._send() for _ in range(calls)]
        self.bursts.append(ids)
        missing = await self._wait(set(ids), timeout_s)
        if missing:
            raise TimeoutError(f"{len(missing)} of a burst of {calls} calls had no result "
                               f"after {timeout_s:.0f} s")
        return max(self.arrived[c] for c in ids) - started

    @contextlib.asynccontextmanager
    async def steady(self, rate: float) -> AsyncIterator[None]:
        """Send ``rate`` calls a second, evenly, until the block ends."""
        async def send() -> None:
            interval, due = 1 / rate, time.monotonic()
            while True:
                await self._send()
                due += interval
                await asyncio.sleep(max(0.0, due - time.monotonic()))

        sender = asyncio.create_task(send())
        try:
            yield
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def wait_all(self, timeout_s: float) -> set[str]:
        """Wait for a result of every call sent; those still missing at the timeout."""
        return await self._wait(set(self.sent), timeout_s)

    async def _send(self) -> str:
        assert self._producer is not None
        call_id = f"{self.run}-{len(self.sent)}"
        session = f"{self.run}-s{len(self.sent)}"  # a session each: partitions share evenly
        call = ToolCallRequested(call_id=call_id, session_id=session, tool="io_wait",
                                 arguments={"tag": call_id, "ms": self.ms})
        await self._producer.send(self.topics.calls, encode(call), key=session.encode())
        self.sent[call_id] = time.monotonic()
        return call_id

    async def _wait(self, call_ids: set[str], timeout_s: float) -> set[str]:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while call_ids - self.arrived.keys():
                    self._news.clear()
                    await self._news.wait()
        return call_ids - self.arrived.keys()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    result = orjson.loads(record.value or b"{}")
                    call_id = result.get("call_id")
                    if call_id in self.sent and call_id not in self.arrived:
                        self.arrived[call_id] = now
                        self.indeterminate += result.get("status") == "indeterminate"
            if batches:
                self._news.set()


def longest_gap_ms(arrivals: Iterable[float], start: float, end: float) -> float:
    """The longest time in ``[start, end]`` without an arrival (ms), counting the edges."""
    moments = sorted(t for t in arrivals if start <= t <= end)
    edges = [start, *moments, end]
    return max(b - a for a, b in itertools.pairwise(edges)) * 1000
