"""Prometheus metrics of the rate limiter, created once at import (default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["DECISIONS", "DECISION_SECONDS", "MODE", "MODES", "WAIT_SECONDS", "set_mode"]

DECISIONS = Counter(
    "toolformer_ratelimit_decisions",
    "Rate-limit decisions by limit and outcome: admitted, delayed (told to wait), "
    "rejected (policy reject or cost too large); source redis or local (fail-open).",
    ["limit", "outcome", "source"],
)
WAIT_SECONDS = Histogram(
    "toolformer_ratelimit_wait_seconds",
    "Time an admitted call spent waiting for its limits (0 when it passed at once).",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300),
)
DECISION_SECONDS = Histogram(
    "toolformer_ratelimit_decision_seconds",
    "Time from asking for a decision to its answer (one batched round trip).",
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
)
MODE = Gauge(
    "toolformer_ratelimit_mode",
    "1 for the limiter's current mode: redis, local (fail_open fallback) or "
    "waiting (fail_closed, Redis down).",
    ["mode"],
)
MODES = ("redis", "local", "waiting")


def set_mode(mode: str) -> None:
    for name in MODES:
        MODE.labels(mode=name).set(1 if name == mode else 0)


set_mode("redis")
