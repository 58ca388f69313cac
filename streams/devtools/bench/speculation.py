"""``toolformer bench speculation``: what speculation buys and what it wastes, in one run.

- ``precision``, ``recall``, ``wasted_tool_ms_ratio``: the transition predictor
  learns on one seeded set of sessions and speculates over a held-out set, offline
  (:mod:`.speculation_offline`): every proposal the worker would start, checked
  against the call the session made next; tool time is the workload's.
- ``session_p50_ms_with`` / ``session_p50_ms_without``: real sessions through the
  real pipeline, a speculating worker against a plain one, same held-out sessions,
  same scripted model (:mod:`.speculation_sessions`); ``live_*`` are the speculating
  worker's own counters over those sessions; ``session_p50_reduction_ceiling`` is
  what perfect speculation could reach on the same sessions, overheads aside.
- ``plan_speedup`` and ``cache_hit_p50_ratio``: the plans' and the result cache's
  own measurements, run on the same stack; a figure whose module is not there says so
  in ``missing``.
"""

from __future__ import annotations

import importlib
import inspect
import statistics
from typing import Any

from async_toolformer.agents.speculation import PredictorSettings, TransitionPredictor
from async_toolformer.streams.devtools.bench.speculation_offline import (
    reduction_ceiling,
    simulate,
    train,
)
from async_toolformer.streams.devtools.bench.speculation_sessions import measure_sessions
from async_toolformer.streams.devtools.bench.speculation_workload import generate
from async_toolformer.streams.devtools.stack import DevStack
from async_toolformer.streams.worker.settings import Settings

TARGETS = {"precision": ">= 0.7", "wasted_tool_ms_ratio": "<= 0.2",
           "session_p50_reduction": ">= 0.25", "plan_speedup": ">= 1.8",
           "cache_hit_p50_ratio": "<= 1.2"}


async def bench_speculation(settings: Settings, *, seed: int = 7, sessions: int = 400,
                            live_sessions: int = 40, concurrency: int = 4,
                            turn_latency_ms: float = 400, precision_target: float = 0.7
                            ) -> dict[str, Any]:
    """All figures; ``sessions`` offline and ``live_sessions`` real ones, each for training
    and again held out."""
    predictor = TransitionPredictor(PredictorSettings(precision_target=precision_target))
    train(predictor, generate(seed, sessions))
    offline = simulate(predictor, generate(seed + 1, sessions, prefix="held"))
    report: dict[str, Any] = {
        "precision": round(offline.precision, 3), "recall": round(offline.recall, 3),
        "wasted_tool_ms_ratio": round(offline.wasted_tool_ms_ratio, 3),
        "offline": {"proposed": offline.proposed, "used": offline.used,
                    "predictable": offline.predictable, "tool_ms": offline.tool_ms,
                    "wasted_ms": offline.wasted_ms, "sessions": sessions,
                    "thresholds": predictor.thresholds("bench")}}
    missing: list[str] = []
    held_out = generate(seed + 3, live_sessions, prefix="liveheld")
    async with DevStack(settings) as stack:
        live = await measure_sessions(
            stack.settings, generate(seed + 2, live_sessions, prefix="live"), held_out,
            turn_latency_ms=turn_latency_ms, concurrency=concurrency)
        with_ms, without_ms = live.p50_with, live.p50_without
        counters = live.counters
        resolved = sum(v for k, v in counters.items() if k.startswith("runs_total"))
        hits = counters.get("hits_total", 0.0)
        report.update({
            "session_p50_ms_with": round(with_ms, 1),
            "session_p50_ms_without": round(without_ms, 1),
            "session_p50_reduction": round(1 - with_ms / without_ms, 3),
            "session_p50_reduction_ceiling": round(
                reduction_ceiling(held_out, turn_latency_ms), 3),
            "session_range_ms_with": _range(live.with_ms),
            "session_range_ms_without": _range(live.without_ms),
            "session_p90_ms_with": _p90(live.with_ms),
            "session_p90_ms_without": _p90(live.without_ms),
            "sessions_failed": {"with": live.failed_with, "without": live.failed_without},
            "live_precision": round(hits / resolved, 3) if resolved else None,
            "live_recall": round(hits / (hits + counters.get("misses_total", 0.0)), 3)
            if hits else 0.0,
            "live_counters": counters})
        for key, module, function in (
                ("plan_speedup", "plans", "measure_plan_speedup"),
                ("cache_hit_p50_ratio", "cache", "cache_figures")):
            value, why = await _borrowed(key, module, function, stack.settings)
            report[key] = value
            if why is not None:
                missing.append(why)
    report.update({"missing": missing, "targets": TARGETS, "seed": seed,
                   "sessions": sessions, "live_sessions": live_sessions,
                   "concurrency": concurrency, "turn_latency_ms": turn_latency_ms})
    return report


async def _borrowed(key: str, module: str, function: str, settings: Settings
                    ) -> tuple[float | None, str | None]:
    """``key`` as another benchmark's module measures it, or None and why not."""
    where = f"streams/devtools/bench/{module}.py"
    try:
        found = importlib.import_module(f"async_toolformer.streams.devtools.bench.{module}")
    except ImportError as exc:
        return None, f"{key}: {where} is not importable ({exc})"
    measure = getattr(found, function, None)
    if measure is None:
        return None, f"{key}: {where} has no {function}"
    try:
        result = measure(settings)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # another team's benchmark: report, do not lose ours
        return None, f"{key}: {function} failed: {type(exc).__name__}: {exc}"
    if isinstance(result, dict):
        result = result.get(key)
    if isinstance(result, int | float) and not isinstance(result, bool):
        return round(float(result), 3), None
    return None, f"{key}: {function} returned no number under {key!r}"


def _range(values: list[float]) -> list[float]:
    return [round(min(values), 1), round(max(values), 1)] if values else []


def _p90(values: list[float]) -> float | None:
    if len(values) < 2:
        return None
    return round(statistics.quantiles(values, n=10)[-1], 1)
