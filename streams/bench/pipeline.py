"""``toolformer bench pipeline``: the tool pipeline against plain aiokafka, in one run.

Both the echo baseline and the worker run as their own processes on the same
broker and are driven by the same harness with the same pre-encoded records,
so the ratios compare the services, not the driver. Besides throughput, each
side's CPU per message is read from ``/proc`` over the same burst: the driver,
broker and Redis share the machine's cores, so that ratio is the steadier one.
The worker is measured as configured (with the execution ledger by default)
and once more without the ledger, the pipeline alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from async_toolformer.schemas import ToolCallRequested, encode

from ..dev import DevStack
from ..settings import Settings
from ..topics import TopicCatalogue, ensure_topics
from .harness import Driver, cpu_seconds, median, peak_rss_mb, percentile, spawn, terminate

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
                         sleep_ms: int = 1_000) -> dict[str, Any]:
    """All figures of the benchmark; services from the settings or the embedded stack."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}."})) as stack:
        raw = await _raw_echo(stack.bootstrap_servers, run, throughput_calls, latency_samples)
        system = await _system(stack.settings, run, n=throughput_calls, samples=latency_samples,
                               concurrent=concurrent_calls, sleep_ms=sleep_ms)
        system["ledger"] = bool(stack.settings.ledger and stack.settings.redis_url)
        system["throughput_no_ledger_calls_per_s"] = await echo_throughput(
            stack.settings, f"{run}-bare", throughput_calls, TOOLFORMER_LEDGER="false")
    report: dict[str, Any] = {**system, **raw}
    raw_rate = report["raw_echo_msgs_per_s"]
    report["throughput_ratio"] = report["throughput_calls_per_s"] / raw_rate
    report["throughput_no_ledger_ratio"] = report["throughput_no_ledger_calls_per_s"] / raw_rate
    report["cpu_ratio"] = report["raw_echo_cpu_us_per_msg"] / report["cpu_us_per_call"]
    report["latency_p50_ratio"] = report["latency_p50_ms"] / report["raw_echo_p50_ms"]
    return report


async def _raw_echo(bootstrap: str, run: str, n: int, samples: int) -> dict[str, float]:
    source, target = f"{run}.raw-in", f"{run}.raw-out"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 8, 1), NewTopic(target, 8, 1)])
    finally:
        await admin.close()
    echo = await spawn(["async_toolformer.streams.bench.echo", source, target],
                       {"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
    driver = Driver(bootstrap, source, target)
    await driver.start()
    try:
        await driver.burst(echo_calls(f"{run}-rw", 50), timeout_s=60)
        latencies = await driver.round_trips_ms(echo_calls(f"{run}-rl", samples))
        cpu_before = cpu_seconds(echo.pid)
        seconds = await driver.burst(echo_calls(f"{run}-rt", n), timeout_s=300)
        cpu = cpu_seconds(echo.pid) - cpu_before
    finally:
        await driver.stop()
        await terminate(echo)
    return {"raw_echo_msgs_per_s": n / seconds, "raw_echo_p50_ms": median(latencies),
            "raw_echo_p99_ms": percentile(latencies, 0.99),
            "raw_echo_cpu_us_per_msg": cpu / n * 1e6}


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
    await ensure_topics(bootstrap, catalogue, partitions=settings.partitions)
    worker = await spawn(["async_toolformer.streams.cli", "worker"], worker_env(
        settings.model_copy(update={"topic_prefix": catalogue.prefix}), run, **extra_env))
    driver = Driver(bootstrap, catalogue.calls, catalogue.results)
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


async def _system(settings: Settings, run: str, *, n: int, samples: int, concurrent: int,
                  sleep_ms: int) -> dict[str, Any]:
    cap = str(max(concurrent, settings.max_in_flight))
    async with running_worker(settings, run, TOOLFORMER_MAX_IN_FLIGHT=cap) as (driver, worker):
        latencies = await driver.round_trips_ms(echo_calls(f"{run}-l", samples))
        cpu_before = cpu_seconds(worker.pid)
        seconds = await driver.burst(echo_calls(f"{run}-t", n), timeout_s=300)
        cpu = cpu_seconds(worker.pid) - cpu_before
        wall = await driver.burst(echo_calls(f"{run}-c", concurrent, tool="sleep",
                                             ms=sleep_ms), timeout_s=300)
        rss = peak_rss_mb(worker.pid)
    return {
        "throughput_calls_per_s": n / seconds,
        "cpu_us_per_call": cpu / n * 1e6,
        "latency_p50_ms": median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
        "concurrent_calls": concurrent,
        "concurrent_sleep_ms": sleep_ms,
        "concurrent_wall_s": wall,
        "peak_rss_mb": rss,
    }
