"""``toolformer bench pipeline``: the tool pipeline against plain aiokafka, in one run.

Both the echo baseline and the worker run as their own processes on the same
broker and are driven by the same harness with the same pre-encoded records,
so the ratios compare the services, not the driver. Besides throughput, each
side's CPU per message is read from ``/proc`` over the same burst: the driver,
broker and Redis share the machine's cores, so that ratio is the steadier one.
The worker is measured as configured (with the execution ledger by default)
and once more without the ledger, the pipeline alone; the three take turns,
one at a time, best of three rounds each.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from async_toolformer.schemas import ToolCallRequested, encode
from async_toolformer.streams.devtools.bench.harness import (
    Driver,
    cpu_seconds,
    median,
    peak_rss_mb,
    percentile,
    spawn,
    terminate,
)
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.worker.settings import Settings

Records = list[tuple[str, bytes, bytes]]


def echo_calls(tag: str, n: int, *, tool: str = "echo", **arguments: Any) -> Records:
    records = []
    for i in range(n):
        session = f"{tag}-s{i % 64}"
        call = ToolCallRequested(call_id=f"{tag}-{i}", session_id=session, tool=tool,
                                 arguments=arguments or {"i": i})
        records.append((call.call_id, session.encode(), encode(call)))
    return records


async def bench_pipeline(settings: Settings, *, throughput_calls: int = 20_000,
                         latency_samples: int = 300, concurrent_calls: int = 20_000,
                         sleep_ms: int = 1_000, rounds: int = 3) -> dict[str, Any]:
    """All figures of the benchmark; services from the settings or the embedded stack.

    Each round runs the raw echo, the worker and the worker without the ledger in
    turn, each on its own (an idle consumer polling every 5 ms costs the broker a
    fifth of a core, so they are not left running side by side), and the best of
    the rounds is kept for each: other load on the machine only ever slows a
    burst down. Every round's figure is in the report as well.
    """
    run = f"bench{uuid.uuid4().hex[:8]}"
    cap = str(max(concurrent_calls, settings.max_in_flight))
    bursts: dict[str, list[tuple[float, float]]] = {"raw": [], "system": [], "bare": []}
    walls: list[float] = []
    rss = 0.0
    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}."})) as stack:
        for r in range(rounds):
            async with _raw_echo(stack.bootstrap_servers, f"{run}-raw{r}",
                                 security=KafkaSecurity.from_settings(stack.settings)
                                 ) as (driver, echo):
                if r == 0:
                    raw_latencies = await driver.round_trips_ms(
                        echo_calls(f"{run}-rl", latency_samples))
                bursts["raw"].append(await _burst(driver, echo, echo_calls(
                    f"{run}-rt{r}", throughput_calls)))
            async with running_worker(stack.settings, f"{run}-sys{r}",
                                      TOOLFORMER_MAX_IN_FLIGHT=cap) as (driver, worker):
                if r == 0:
                    latencies = await driver.round_trips_ms(
                        echo_calls(f"{run}-l", latency_samples))
                bursts["system"].append(await _burst(driver, worker, echo_calls(
                    f"{run}-t{r}", throughput_calls)))
                walls.append(await driver.burst(echo_calls(
                    f"{run}-c{r}", concurrent_calls, tool="sleep", ms=sleep_ms), timeout_s=300))
                rss = max(rss, peak_rss_mb(worker.pid))
            async with running_worker(stack.settings, f"{run}-bare{r}",
                                      TOOLFORMER_LEDGER="false") as (driver, bare):
                bursts["bare"].append(await _burst(driver, bare, echo_calls(
                    f"{run}-b{r}", throughput_calls)))
        ledger = bool(stack.settings.ledger and stack.settings.redis_url)
    rate = {side: [throughput_calls / seconds for seconds, _ in runs]
            for side, runs in bursts.items()}
    cpu = {side: min(cpu for _, cpu in runs) / throughput_calls * 1e6
           for side, runs in bursts.items()}
    return {
        "throughput_calls_per_s": max(rate["system"]),
        "throughput_no_ledger_calls_per_s": max(rate["bare"]),
        "raw_echo_msgs_per_s": max(rate["raw"]),
        "throughput_ratio": max(rate["system"]) / max(rate["raw"]),
        "throughput_no_ledger_ratio": max(rate["bare"]) / max(rate["raw"]),
        "cpu_us_per_call": cpu["system"],
        "cpu_us_per_call_no_ledger": cpu["bare"],
        "raw_echo_cpu_us_per_msg": cpu["raw"],
        "cpu_ratio": cpu["raw"] / cpu["system"],
        "latency_p50_ms": median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
        "raw_echo_p50_ms": median(raw_latencies),
        "raw_echo_p99_ms": percentile(raw_latencies, 0.99),
        "latency_p50_ratio": median(latencies) / median(raw_latencies),
        "concurrent_calls": concurrent_calls,
        "concurrent_sleep_ms": sleep_ms,
        "concurrent_wall_s": min(walls),
        "peak_rss_mb": rss,
        "ledger": ledger,
        "rounds": rounds,
        "rounds_calls_per_s": {side: [round(x) for x in rates] for side, rates in rate.items()},
        "rounds_concurrent_wall_s": [round(w, 3) for w in walls],
    }


async def _burst(driver: Driver, process: asyncio.subprocess.Process, records: Records
                 ) -> tuple[float, float]:
    """Seconds for ``records`` to be answered, and the CPU seconds ``process`` spent."""
    cpu_before = cpu_seconds(process.pid)
    seconds = await driver.burst(records, timeout_s=300)
    return seconds, cpu_seconds(process.pid) - cpu_before


@asynccontextmanager
async def _raw_echo(bootstrap: str, run: str, *, security: KafkaSecurity = PLAINTEXT
                    ) -> AsyncIterator[tuple[Driver, asyncio.subprocess.Process]]:
    """The plain aiokafka echo process on topics of its own, and a driver it has answered."""
    source, target = f"{run}.raw-in", f"{run}.raw-out"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 8, 1), NewTopic(target, 8, 1)])
    finally:
        await admin.close()
    echo = await spawn(["async_toolformer.streams.devtools.bench.echo", source, target],
                       {"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    driver = Driver(bootstrap, source, target, security=security)
    await driver.start()
    try:
        await driver.burst(echo_calls(f"{run}-rw", 50), timeout_s=60)
        yield driver, echo
    finally:
        await driver.stop()
        await terminate(echo)


def worker_env(settings: Settings, run: str, **extra: str) -> dict[str, str]:
    """Environment of a benchmark's worker process on the settings' services."""
    assert settings.kafka_bootstrap_servers is not None
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOOLFORMER_TOPIC_PREFIX": settings.topic_prefix,
        "TOOLFORMER_GROUP_ID": f"{run}-workers",
        "TOOLFORMER_PARTITIONS": str(settings.partitions),
        "TOOLFORMER_METRICS_PORT": "0",
        "TOOLFORMER_LEDGER_NAMESPACE": run,
        "TOOLFORMER_LEDGER": "true" if settings.ledger else "false",
        **extra,
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


@asynccontextmanager
async def running_worker(settings: Settings, run: str, **extra_env: str
                         ) -> AsyncIterator[tuple[Driver, asyncio.subprocess.Process]]:
    """A worker process on fresh topics, and a driver that has seen it answer."""
    bootstrap = settings.kafka_bootstrap_servers
    assert bootstrap is not None
    catalogue = TopicCatalogue(f"{run}.")
    security = KafkaSecurity.from_settings(settings)
    await ensure_topics(bootstrap, catalogue, partitions=settings.partitions, security=security)
    worker = await spawn(["async_toolformer.streams.cli", "worker"], worker_env(
        settings.model_copy(update={"topic_prefix": catalogue.prefix}), run, **extra_env))
    driver = Driver(bootstrap, catalogue.calls, catalogue.results, security=security)
    await driver.start()
    try:
        await driver.burst(echo_calls(f"{run}-w", 50), timeout_s=90)  # the group has formed
        yield driver, worker
    finally:
        await driver.stop()
        await terminate(worker)


async def echo_throughput(settings: Settings, run: str, n: int, **extra_env: str) -> float:
    """Echo calls per second through one worker process, at saturation."""
    async with running_worker(settings, run, **extra_env) as (driver, _):
        return n / await driver.burst(echo_calls(f"{run}-t", n), timeout_s=300)
