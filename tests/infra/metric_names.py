"""Metric names: those a PromQL expression reads, and those the worker exports.

The alerts and the dashboard name metrics as strings; a renamed metric leaves
them silently empty. These two sets let a test compare them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from async_toolformer.streams.redis.ratelimit.metrics import LimiterMetrics
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics
from async_toolformer.streams.worker.liveness import LoopLagMonitor
from async_toolformer.streams.worker.metrics import WorkerMetrics, worker_registry
from async_toolformer.streams.worker.speculation_metrics import SpeculationMetrics

__all__ = ["PROMETHEUS_BUILTINS", "constructor_names", "exported_families", "exported_names",
           "promql_metrics"]

# Series Prometheus itself writes for every target and alert.
PROMETHEUS_BUILTINS = frozenset({
    "up", "scrape_duration_seconds", "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling", "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE)
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset({
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
})
_NUMBER_UNIT = re.compile(r"^(?:[0-9.]+(?:e[+-]?\d+)?|\d+(?:ms|[smhdwy]))$", re.IGNORECASE)


def promql_metrics(expression: str) -> set[str]:
    """The metric names ``expression`` selects (function and keyword names left out)."""
    text = _STRING.sub(" ", expression)
    text = _GRAFANA_VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text)
            if name.lower() not in _KEYWORDS and not _NUMBER_UNIT.match(name)}


def _sample_names(name: str, kind: str) -> Iterator[str]:
    """The names a family of ``kind`` writes in the exposition format."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
        "summary": ("", "_count", "_sum", "_created"),
        "info": ("_info",),
    }.get(kind, ("",))
    for suffix in suffixes:
        yield name + suffix


def exported_families() -> dict[str, str]:
    """The metric families a worker's ``/metrics`` serves, name to type, built as the
    worker builds them (the process figures included) on a fresh registry."""
    registry = worker_registry()
    WorkerMetrics(registry)
    LimiterMetrics(registry)
    ResultCacheMetrics(registry)
    SpeculationMetrics(registry)
    LoopLagMonitor(registry, max_lag_s=5, zombie_threads=lambda: 0)
    return {family.name: family.type for family in registry.collect()}


def exported_names() -> set[str]:
    """Every name a worker's ``/metrics`` can show.

    Families without samples yet (labelled, nothing counted) still say their name
    and type, so the names are derived from those, not from samples.
    """
    return {sample for name, kind in exported_families().items()
            for sample in _sample_names(name, kind)}


_CONSTRUCTOR = re.compile(
    r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum|\w+MetricFamily)\(\s*\"(\w+)\"")


def constructor_names(source_root: Path) -> set[str]:
    """The family names passed to prometheus-client constructors anywhere under ``source_root``."""
    return {name for path in source_root.rglob("*.py")
            for name in _CONSTRUCTOR.findall(path.read_text(encoding="utf-8"))}
