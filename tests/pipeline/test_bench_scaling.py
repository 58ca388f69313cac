"""``bench scaling`` end to end on tiny numbers: every key is there, and the rebalances
lose no call and run none twice (counted by the tool itself, outside the ledger)."""

from __future__ import annotations

import pytest

from async_toolformer.streams.devtools.bench.scaling import (
    ScalingParams,
    bench_scaling,
    longest_gap_ms,
)
from async_toolformer.streams.worker.settings import Settings

KEYS = {"capacity_ratio", "one_worker_calls_per_s", "two_workers_calls_per_s",
        "steady_rate", "steady_gap_ms", "join_gap_ms", "join_s", "leave_gap_ms", "leave_s",
        "lost", "run_twice", "indeterminate", "calls", "executions", "session_timeout_ms",
        "gap_target_ms"}


@pytest.mark.connected
@pytest.mark.slow
@pytest.mark.timeout(900)  # two worker start-ups and two rebalances; minutes on a loaded box
async def test_bench_scaling_loses_nothing_and_runs_nothing_twice(kafka_bootstrap: str,
                                                                   redis_url: str) -> None:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url)
    params = ScalingParams(concurrency=5, ms=50, burst=60, rate=20, steady_s=0.5,
                           settle_s=0.5, partitions=4, timeout_s=240)

    report = await bench_scaling(settings, params)

    print("bench scaling:", report)
    assert report.keys() >= KEYS
    assert report["lost"] == 0
    assert report["run_twice"] == 0
    assert report["calls"] >= 2 * params.burst
    # every call ran exactly once, except those answered indeterminate instead of a rerun
    assert report["calls"] - report["indeterminate"] <= report["executions"] <= report["calls"]
    assert report["capacity_ratio"] > 0
    assert 0 < report["steady_rate"] <= params.rate


def test_the_longest_gap_counts_the_edges_of_the_window() -> None:
    assert longest_gap_ms([1.0, 1.1, 1.5], 0.9, 2.0) == pytest.approx(500)
    assert longest_gap_ms([0.1, 5.0], 1.0, 2.0) == pytest.approx(1000)  # none inside
    assert longest_gap_ms([1.2, 1.3], 1.0, 1.4) == pytest.approx(200)
