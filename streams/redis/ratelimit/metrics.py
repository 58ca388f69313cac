"""Prometheus metrics of the rate limiter, registered on the registry its host gives.

A worker passes the registry its ``/metrics`` serves; a limiter given none
records into a registry of its own, so no limiter writes to process-wide state.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MODES", "LimiterMetrics", "observe_many"]

MODES = ("redis", "local", "waiting")


class LimiterMetrics:
    """The limiter's decisions, waits, round trips and mode, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.decisions = Counter(
            "toolformer_ratelimit_decisions",
            "Rate-limit decisions by limit and outcome: admitted, delayed (told to wait), "
            "rejected (policy reject or cost too large); source redis or local (fail-open).",
            ["limit", "outcome", "source"], registry=self.registry,
        )
        self.wait_seconds = Histogram(
            "toolformer_ratelimit_wait_seconds",
            "Time an admitted call spent waiting for its limits (0 when it passed at once).",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "toolformer_ratelimit_decision_seconds",
            "Time from asking for a decision to its answer (one batched round trip).",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
            registry=self.registry,
        )
        self.mode = Gauge(
            "toolformer_ratelimit_mode",
            "1 for the limiter's current mode: redis, local (fail_open fallback) or "
            "waiting (fail_closed, Redis down).",
            ["mode"], registry=self.registry,
        )
        self.set_mode("redis")

    def set_mode(self, mode: str) -> None:
        for name in MODES:
            self.mode.labels(mode=name).set(1 if name == mode else 0)


def observe_many(histogram: Histogram, amount: float, times: int) -> None:
    """``histogram.observe(amount)`` ``times`` times, in one step: a batch's decisions
    share one amount, and thousands of observations would cost more than deciding."""
    if times <= 0:
        return
    sum_, buckets, bounds = (getattr(histogram, name, None)
                             for name in ("_sum", "_buckets", "_upper_bounds"))
    if sum_ is None or buckets is None or bounds is None:  # another prometheus_client
        for _ in range(times):
            histogram.observe(amount)
        return
    sum_.inc(amount * times)
    for bucket, bound in zip(buckets, bounds, strict=True):
        if amount <= bound:
            bucket.inc(times)
            break
