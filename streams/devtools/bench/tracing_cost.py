"""``toolformer bench pipeline --tracing``: what traces cost the worker, in one run.

The same echo burst goes through a worker process three ways, taking turns in
each round (the order rotates, so a round's drift does not favour one side):
traces off (today's worker), traces on with the sampler's ratio at 0 (spans
are made and dropped at once: the cost of the span sites themselves), and
traces on sampling every call into an in-process exporter that counts and
drops (``OTEL_TRACES_EXPORTER=memory``: the SDK's full work without a network).
The driver sends no trace context, so each call starts a trace of its own.
Reported: calls per second and the worker's CPU per call of every round, their
medians and ranges, and each side's median against off's.
"""

from __future__ import annotations

import uuid
from typing import Any

from async_toolformer.streams.devtools.bench.harness import cpu_seconds, median
from async_toolformer.streams.devtools.bench.pipeline import echo_calls, running_worker
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.worker.settings import Settings

MODES: dict[str, dict[str, str]] = {
    "off": {},
    "ratio0": {"OTEL_TRACES_EXPORTER": "memory", "OTEL_TRACES_SAMPLER": "traceidratio",
               "OTEL_TRACES_SAMPLER_ARG": "0"},
    "sampled": {"OTEL_TRACES_EXPORTER": "memory", "OTEL_TRACES_SAMPLER": "always_on",
                "OTEL_BSP_MAX_QUEUE_SIZE": "65536"},
}


async def bench_tracing(settings: Settings, *, calls: int = 10_000,
                        rounds: int = 5) -> dict[str, Any]:
    """Throughput and CPU per call of each mode, ``rounds`` interleaved rounds each."""
    run = f"trace{uuid.uuid4().hex[:8]}"
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    names = list(MODES)
    async with DevStack(settings.model_copy(update={"topic_prefix": f"{run}."})) as stack:
        for r in range(rounds):
            for mode in names[r % len(names):] + names[:r % len(names)]:
                side = f"{run}-{mode}{r}"
                async with running_worker(stack.settings, side, **MODES[mode]) as (driver,
                                                                                   worker):
                    before = cpu_seconds(worker.pid)
                    seconds = await driver.burst(echo_calls(f"{side}-t", calls), timeout_s=300)
                    cpu[mode].append((cpu_seconds(worker.pid) - before) / calls * 1e6)
                    rates[mode].append(calls / seconds)
        ledger = bool(stack.settings.ledger and stack.settings.redis_url)
    report: dict[str, Any] = {"calls": calls, "rounds": rounds, "ledger": ledger}
    for mode in MODES:
        report[f"{mode}_calls_per_s_median"] = round(median(rates[mode]))
        report[f"{mode}_calls_per_s_range"] = [round(min(rates[mode])), round(max(rates[mode]))]
        report[f"{mode}_cpu_us_per_call_median"] = round(median(cpu[mode]), 1)
        report[f"{mode}_cpu_us_per_call_range"] = [round(min(cpu[mode]), 1),
                                                   round(max(cpu[mode]), 1)]
    for mode in ("ratio0", "sampled"):
        report[f"{mode}_throughput_ratio"] = round(median(rates[mode]) / median(rates["off"]), 3)
        report[f"{mode}_cpu_ratio"] = round(median(cpu[mode]) / median(cpu["off"]), 3)
    spread = (max(rates["off"]) - min(rates["off"])) / median(rates["off"])
    report["off_spread"] = round(spread, 3)  # (max - min) / median of off: the noise
    report["rounds_calls_per_s"] = {mode: [round(x) for x in xs] for mode, xs in rates.items()}
    report["rounds_cpu_us_per_call"] = {mode: [round(x, 1) for x in xs]
                                        for mode, xs in cpu.items()}
    return report
