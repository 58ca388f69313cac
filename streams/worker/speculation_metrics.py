"""Prometheus figures of speculation: what was predicted, run, used, wasted and saved.

Precision and recall are gauges read from the counters at each scrape:
precision = hits / runs resolved (used or not), recall = hits / (hits + misses),
where a miss is a session's call to a tool speculation may run that no
speculative run had predicted. Both read 0 until there is something to divide by.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["SpeculationMetrics"]


class SpeculationMetrics:
    """Registered on the worker's registry; every method is cheap (event-loop thread)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = Counter(
            "toolformer_speculation_predictions", "Predictions the predictor made after results",
            registry=registry)
        self.refused = Counter(
            "toolformer_speculation_refused",
            "Predictions not run, by reason (not_read_only, over_budget, tool_busy, "
            "rate_reserve, ...)", ["reason"], registry=registry)
        self.runs = Counter(
            "toolformer_speculation_runs", "Speculative runs resolved, by how they ended "
            "(the tool's status, or cancelled) and whether the session used them",
            ["status", "used"], registry=registry)
        self.hits = Counter(
            "toolformer_speculation_hits",
            "Session calls that a speculative run had predicted", registry=registry)
        self.misses = Counter(
            "toolformer_speculation_misses",
            "Session calls to speculable tools that no speculative run predicted",
            registry=registry)
        self.wasted_ms = Counter(
            "toolformer_speculation_wasted_tool_ms",
            "Tool milliseconds spent on speculative runs no session used", registry=registry)
        self.saved_ms = Counter(
            "toolformer_speculation_saved_ms",
            "Tool milliseconds sessions did not wait for thanks to speculative runs",
            registry=registry)
        self.preempted = Counter(
            "toolformer_speculation_preempted",
            "Speculative runs cancelled to give their place to a real call", registry=registry)
        self.in_flight = Gauge("toolformer_speculation_in_flight", "Speculative runs now",
                               registry=registry)
        self.precision = Gauge("toolformer_speculation_precision",
                               "hits / speculative runs resolved", registry=registry)
        self.recall = Gauge("toolformer_speculation_recall",
                            "hits / (hits + misses)", registry=registry)
        self._hits = self._resolved = self._misses = 0
        self._refused: dict[str, Counter] = {}
        self.precision.set_function(
            lambda: self._hits / self._resolved if self._resolved else 0.0)
        self.recall.set_function(
            lambda: self._hits / (self._hits + self._misses) if self._hits + self._misses
            else 0.0)

    def predicted(self, count: int) -> None:
        if count:
            self.predictions.inc(count)

    def refuse(self, reason: str, count: int = 1) -> None:
        child = self._refused.get(reason)
        if child is None:
            child = self._refused[reason] = self.refused.labels(reason)
        child.inc(count)

    def resolved(self, status: str, used: bool, run_ms: float, saved_ms: float) -> None:
        self._resolved += 1
        self.runs.labels(status, "true" if used else "false").inc()
        if used:
            self._hits += 1
            self.hits.inc()
            self.saved_ms.inc(saved_ms)
        else:
            self.wasted_ms.inc(run_ms)

    def missed(self) -> None:
        self._misses += 1
        self.misses.inc()

    @property
    def figures(self) -> dict[str, float]:
        """The counts behind precision and recall (tests, ``bench``)."""
        return {"hits": self._hits, "resolved": self._resolved, "misses": self._misses}
