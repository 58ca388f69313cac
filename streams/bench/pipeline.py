"""``toolformer bench pipeline``: the tool pipeline against plain aiokafka, in one run.

Both the echo baseline and the worker run as their own processes on the same
broker and are driven by the same harness with the same pre-encoded records,
so the ratios compare the services, not the driver.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from async_toolformer.schemas import ToolCallRequested, encode

from ..dev import DevStack
from ..settings import Settings
from ..topics import TopicCatalogue, ensure_topics
from .harness import Driver, median, peak_rss_mb, percentile, spawn, terminate

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
    report: dict[str, Any] = {**system, **raw}
    report["throughput_ratio"] = report["throughput_calls_per_s"] / report["raw_echo_msgs_per_s"]
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
        seconds = await driver.burst(echo_calls(f"{run}-rt", n), timeout_s=300)
    finally:
        await driver.stop()
        await terminate(echo)
    return {"raw_echo_msgs_per_s": n / seconds, "raw_echo_p50_ms": median(latencies),
            "raw_echo_p99_ms": percentile(latencies, 0.99)}


async def _system(settings: Settings, run: str, *, n: int, samples: int, concurrent: int,
                  sleep_ms: int) -> dict[str, Any]:
    assert settings.kafka_bootstrap_servers is not None
    catalogue = TopicCatalogue(settings.topic_prefix)
    await ensure_topics(settings.kafka_bootstrap_servers, catalogue,
                        partitions=settings.partitions)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TOOLFORMER_TOPIC_PREFIX": settings.topic_prefix,
        "TOOLFORMER_GROUP_ID": f"{run}-workers",
        "TOOLFORMER_PARTITIONS": str(settings.partitions),
        "TOOLFORMER_MAX_IN_FLIGHT": str(max(concurrent, settings.max_in_flight)),
        "TOOLFORMER_METRICS_PORT": "0",
        "TOOLFORMER_LEDGER_NAMESPACE": run,
        "TOOLFORMER_LEDGER": "true" if settings.ledger else "false",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    worker = await spawn(["async_toolformer.streams.cli", "worker"], env)
    driver = Driver(settings.kafka_bootstrap_servers, catalogue.calls, catalogue.results)
    await driver.start()
    try:
        await driver.burst(echo_calls(f"{run}-w", 50), timeout_s=90)  # the group has formed
        latencies = await driver.round_trips_ms(echo_calls(f"{run}-l", samples))
        seconds = await driver.burst(echo_calls(f"{run}-t", n), timeout_s=300)
        wall = await driver.burst(echo_calls(f"{run}-c", concurrent, tool="sleep",
                                             ms=sleep_ms), timeout_s=300)
        rss = peak_rss_mb(worker.pid)
    finally:
        await driver.stop()
        await terminate(worker)
    return {
        "throughput_calls_per_s": n / seconds,
        "latency_p50_ms": median(latencies),
        "latency_p99_ms": percentile(latencies, 0.99),
        "concurrent_calls": concurrent,
        "concurrent_sleep_ms": sleep_ms,
        "concurrent_wall_s": wall,
        "peak_rss_mb": rss,
    }
