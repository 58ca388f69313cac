"""``bench pipeline`` end to end on small numbers: every figure is measured, none made up."""

from __future__ import annotations

import pytest

from async_toolformer.streams.devtools.bench.pipeline import bench_pipeline
from async_toolformer.streams.worker.settings import Settings

pytestmark = [pytest.mark.connected, pytest.mark.slow]


async def test_bench_pipeline_reports_each_side_per_round(kafka_bootstrap: str,
                                                          redis_url: str) -> None:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url)
    report = await bench_pipeline(settings, throughput_calls=300, latency_samples=5,
                                  concurrent_calls=300, sleep_ms=200, rounds=2)
    rounds = report["rounds_calls_per_s"]
    assert all(len(rounds[side]) == 2 for side in ("raw", "system", "bare"))
    assert report["throughput_calls_per_s"] == pytest.approx(max(rounds["system"]), abs=1)
    assert report["raw_echo_msgs_per_s"] == pytest.approx(max(rounds["raw"]), abs=1)
    assert min(rounds["system"] + rounds["raw"] + rounds["bare"]) > 0
    assert report["throughput_ratio"] == pytest.approx(
        report["throughput_calls_per_s"] / report["raw_echo_msgs_per_s"])
    assert report["ledger"] is True
    walls = report["rounds_concurrent_wall_s"]
    assert len(walls) == 2
    assert report["concurrent_wall_s"] >= 0.2  # no burst of 200 ms sleeps ends sooner
    assert report["concurrent_wall_s"] == pytest.approx(min(walls), abs=1e-3)
    assert report["cpu_us_per_call"] > 0
    assert report["peak_rss_mb"] > 0
