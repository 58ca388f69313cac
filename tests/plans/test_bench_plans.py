"""``bench plans`` end to end on small numbers: every figure is measured, none made up."""

from __future__ import annotations

import statistics

import pytest

from async_toolformer.agents.plans import PlanStep, parse_plan
from async_toolformer.streams.devtools.bench.plans import measure_plan_speedup, plan_text
from async_toolformer.streams.worker.settings import Settings

pytestmark = [pytest.mark.connected, pytest.mark.slow]


def test_the_workloads_plan_chains_each_call_to_the_one_before() -> None:
    steps = parse_plan(plan_text((2, 3), 100))
    assert all(isinstance(s, PlanStep) for s in steps)
    assert [s.depends_on for s in steps if isinstance(s, PlanStep)] == [
        (), (1,), (), (3,), (4,)]


async def test_bench_plans_reports_both_modes_per_round(kafka_bootstrap: str,
                                                        redis_url: str) -> None:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url)
    report = await measure_plan_speedup(settings, repeats=2, chains=(2, 2), tool_ms=50,
                                        model_latency_ms=20)
    assert report["misses"] == {"react": 0, "plan": 0}
    assert report["rounds"] == 2
    assert len(report["round_ratios"]) == 2
    low, high = report["react_range_ms"]
    assert low <= report["react_p50_ms"] <= high
    assert report["plan_speedup"] == pytest.approx(
        report["react_p50_ms"] / report["plan_p50_ms"], rel=1e-2)
    assert statistics.median(report["round_ratios"]) > 0
    assert report["plan_p50_ms"] >= 2 * 50  # a chain of two 50 ms calls runs one after another
    assert (report["react_turns"], report["plan_turns"]) == (5, 2)
