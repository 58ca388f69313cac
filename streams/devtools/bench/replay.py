"""``toolformer bench replay``: replay speed, what the ledger costs, and two workers over one.

Every figure compares runs made in the same benchmark, on the same broker and
Redis, with workers as their own processes (``toolformer worker``):

- ``replay_events_per_s``: records per second through the whole ``replay``
  (read the range, answer each call from its ledger record, collect the old
  results, diff) with the live ledger, so no tool runs. Best of ``rounds``
  replays of the same recorded run, each with an id of its own; its baseline is
  ``ledger_calls_per_s``, live pipeline throughput with the ledger measured in
  the same run, and ``replay_ratio`` the one over the other (target: at least 3).
  ``replay_identical`` and ``replay_reexecuted`` are the worst over the rounds.
- ``ledger_overhead_ratio``: echo-call throughput with the ledger over without
  it (target: at least 0.8); ``ledger_cpu_ratio`` is the same comparison made
  with the worker's CPU per call, which other load on the machine disturbs less.
- ``scale_ratio``: throughput of two workers over one, on 20 ms ``sleep`` calls
  (target: at least 1.6 on 2 cores, which the driver and broker share).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from async_toolformer.streams.devtools.bench.harness import Driver, cpu_seconds, spawn, terminate
from async_toolformer.streams.devtools.bench.pipeline import Records, echo_calls
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.ops import RecordRange, ReplayOptions, replay
from async_toolformer.streams.worker.settings import Settings


async def bench_replay(settings: Settings, *, calls: int = 10_000, sleep_calls: int = 10_000,
                       sleep_ms: int = 20, rounds: int = 3) -> dict[str, Any]:
    """All figures; services from the settings or the embedded stack.

    Each pair (ledger and not, one worker and two) is measured ``rounds`` times,
    interleaved, and the best time of each side is kept: other load on the
    machine only ever slows a run down.
    """
    run = f"brp{uuid.uuid4().hex[:8]}"
    best: dict[str, float] = {}
    least_cpu: dict[str, float] = {}

    async def measure(side: str, name: str, records: Records, **how: Any) -> None:
        seconds, cpu = await _timed(base, name, records, **how)
        best[side] = min(best.get(side, seconds), seconds)
        least_cpu[side] = min(least_cpu.get(side, cpu), cpu)

    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}."})) as stack:
        base = stack.settings
        for r in range(rounds):
            await measure("ledger", f"{run}-led{r}", echo_calls(f"{run}-e{r}", calls),
                          ledger=True)
            await measure("bare", f"{run}-bare{r}", echo_calls(f"{run}-b{r}", calls),
                          ledger=False)
        replay_figures = await _replays(base, f"{run}-led0", rounds)
        for r in range(rounds):
            await measure("one", f"{run}-one{r}", echo_calls(
                f"{run}-s{r}", sleep_calls, tool="sleep", ms=sleep_ms), ledger=True)
            await measure("two", f"{run}-two{r}", echo_calls(
                f"{run}-t{r}", sleep_calls, tool="sleep", ms=sleep_ms), ledger=True, workers=2)
    return {
        **replay_figures,
        "replay_ratio": replay_figures["replay_events_per_s"] * best["ledger"] / calls,
        "ledger_calls_per_s": calls / best["ledger"],
        "no_ledger_calls_per_s": calls / best["bare"],
        "ledger_overhead_ratio": best["bare"] / best["ledger"],
        "ledger_cpu_us_per_call": least_cpu["ledger"] / calls * 1e6,
        "no_ledger_cpu_us_per_call": least_cpu["bare"] / calls * 1e6,
        "ledger_cpu_ratio": least_cpu["bare"] / least_cpu["ledger"],
        "one_worker_sleeps_per_s": sleep_calls / best["one"],
        "two_workers_sleeps_per_s": sleep_calls / best["two"],
        "scale_ratio": best["one"] / best["two"],
        "calls": calls,
        "sleep_calls": sleep_calls,
        "sleep_ms": sleep_ms,
        "rounds": rounds,
    }


def worker_env(settings: Settings, *, prefix: str, group: str, namespace: str,
               ledger: bool = True) -> dict[str, str]:
    """The environment of a ``toolformer worker`` child on these topics and group."""
    assert settings.kafka_bootstrap_servers is not None
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOOLFORMER_TOPIC_PREFIX": prefix,
        "TOOLFORMER_GROUP_ID": group,
        "TOOLFORMER_PARTITIONS": str(settings.partitions),
        "TOOLFORMER_MAX_IN_FLIGHT": str(settings.max_in_flight),
        "TOOLFORMER_METRICS_PORT": "0",
        "TOOLFORMER_LEDGER_NAMESPACE": namespace,
        "TOOLFORMER_LEDGER": "true" if ledger else "false",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


async def wait_for_members(bootstrap: str, group: str, members: int, *,
                           timeout_s: float = 90.0, security: KafkaSecurity = PLAINTEXT) -> None:
    """Wait until ``group`` is Stable with ``members`` members (so no rebalance is pending)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options())
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                [response] = await admin.describe_consumer_groups([group])
                state, found = response.groups[0][2], response.groups[0][5]
                if state == "Stable" and len(found) == members:
                    return
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


async def _timed(settings: Settings, name: str, records: Records, *, ledger: bool,
                 workers: int = 1) -> tuple[float, float]:
    """Seconds from the first call sent to the last result, after the group has formed,
    and the CPU seconds the workers used meanwhile."""
    assert settings.kafka_bootstrap_servers is not None
    bootstrap = settings.kafka_bootstrap_servers
    topics = TopicCatalogue(f"{name}.")
    security = KafkaSecurity.from_settings(settings)
    await ensure_topics(bootstrap, topics, partitions=settings.partitions, security=security)
    env = worker_env(settings, prefix=topics.prefix, group=f"{name}-workers", namespace=name,
                     ledger=ledger)
    children = [await spawn(["async_toolformer.streams.cli", "worker"],
                            {**env, "TOOLFORMER_WORKER_ID": f"{name}-{i}"})
                for i in range(workers)]
    driver = Driver(bootstrap, topics.calls, topics.results, security=security)
    await driver.start()
    try:
        await wait_for_members(bootstrap, f"{name}-workers", workers, security=security)
        await driver.burst(echo_calls(f"{name}-warm", 200), timeout_s=90)
        cpu_before = sum(cpu_seconds(child.pid) for child in children)
        seconds = await driver.burst(records, timeout_s=600)
        return seconds, sum(cpu_seconds(child.pid) for child in children) - cpu_before
    finally:
        await driver.stop()
        for child in children:
            await terminate(child)


async def _replays(settings: Settings, recorded: str, rounds: int) -> dict[str, Any]:
    """Replay the ``recorded`` run ``rounds`` times with its ledger namespace.

    No worker is started for it: a replay against the live ledger answers every
    recorded call itself, and would start one of its own only for a call without
    a record (whose start-up would then count).
    """
    assert settings.kafka_bootstrap_servers is not None
    source = settings.model_copy(update={
        "topic_prefix": f"{recorded}.", "group_id": f"{recorded}-workers",
        "ledger_namespace": recorded})
    speeds: list[float] = []
    identical: list[int] = []
    reexecuted: list[int] = []
    records = 0
    for _ in range(rounds):
        started = time.monotonic()
        report = await replay(source, ReplayOptions(RecordRange(), idle_s=0.5, timeout_s=300))
        seconds = time.monotonic() - started
        records = report.records_read
        speeds.append(records / seconds)
        identical.append(report.summary()["identical"])
        reexecuted.append(report.reexecuted)
    return {"replay_events_per_s": max(speeds), "replay_rounds_events_per_s": speeds,
            "replay_records": records, "replay_identical": min(identical),
            "replay_reexecuted": max(reexecuted)}
