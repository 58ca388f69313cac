"""The limit algorithms in plain Python: the reference model and the fail-open fallback.

The Lua script in :mod:`._lua` must answer exactly like this class for the same
clock; the hypothesis tests hold them to it. As the fallback when Redis is
down, each worker runs it with its ``share`` of every limit and its own clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from async_toolformer.streams.redis.ratelimit.decisions import (
    Batch,
    BoundLimit,
    Decision,
    Kind,
    LimitParams,
    Outcome,
    Status,
)

__all__ = ["LocalDecisionStore", "monotonic_us"]


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


class LocalDecisionStore:
    """In-process limit state; ``share`` scales every limit (1.0 for the model)."""

    def __init__(self, *, share: float = 1.0, clock: Callable[[], int] = monotonic_us) -> None:
        self._share = share
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._windows: dict[str, tuple[float, float, float]] = {}  # idx, curr, prev
        self._leases: dict[str, dict[str, float]] = {}  # key -> lease -> expiry

    async def apply(self, batch: Batch, *, now_us: int | None = None) -> list[Outcome]:
        return self.apply_now(batch, self._clock() if now_us is None else now_us)

    def apply_now(self, batch: Batch, now: int) -> list[Outcome]:
        for limit, lease in batch.releases:
            self._leases.get(limit.key, {}).pop(lease, None)
        for limit, lease in batch.renewals:
            leases = self._live_leases(limit.key, now)
            if lease in leases:
                leases[lease] = now + self._params(limit).interval_us
        outcomes = [self._decide(decision, now) for decision in batch.decisions]
        if len(self._tat) > 50_000:
            self._forget_idle(now)
        return outcomes

    def _params(self, limit: BoundLimit) -> LimitParams:
        return limit.params if self._share == 1.0 else limit.params.scaled(self._share)

    def _decide(self, decision: Decision, now: int) -> Outcome:
        worst, limiting = 0.0, 0
        for index, limit in enumerate(decision.limits):
            verdict = self._check(limit, decision.cost, now)
            if verdict is None:
                return Outcome(Status.NEVER, 0, index)
            if verdict > 0 and verdict > worst:
                worst, limiting = verdict, index
        if worst > 0:
            return Outcome(Status.DENIED, math.ceil(worst), limiting)
        for limit in decision.limits:
            self._take(limit, decision.cost, decision.lease, now)
        return Outcome(Status.ADMITTED)

    def _check(self, limit: BoundLimit, call_cost: float, now: int) -> float | None:
        """0 if it fits now, else µs to wait (>0); None if it never can."""
        params, cost = self._params(limit), limit.cost_of(call_cost)
        if params.kind is Kind.GCRA:
            if cost > params.capacity:
                return None
            tat = self._tat.get(limit.key, float(now))
            need = max(tat - now, 0.0) + cost * params.interval_us
            excess = need - params.capacity * params.interval_us
            return 0.0 if excess <= 0 else excess
        if params.kind is Kind.SLIDING_WINDOW:
            return _window_wait(self._window(limit.key, params, now), params, cost, now)
        leases = self._live_leases(limit.key, now)
        if len(leases) + 1 <= params.capacity:
            return 0.0
        return max(1.0, min(min(leases.values()) - now, params.poll_us))

    def _take(self, limit: BoundLimit, call_cost: float, lease: str, now: int) -> None:
        params, cost = self._params(limit), limit.cost_of(call_cost)
        if params.kind is Kind.GCRA:
            tat = self._tat.get(limit.key, float(now))
            self._tat[limit.key] = now + (max(tat - now, 0.0) + cost * params.interval_us)
        elif params.kind is Kind.SLIDING_WINDOW:
            idx, curr, prev = self._window(limit.key, params, now)
            self._windows[limit.key] = (idx, curr + cost, prev)
        else:
            self._live_leases(limit.key, now)[lease] = now + params.interval_us

    def _window(self, key: str, params: LimitParams, now: int) -> tuple[float, float, float]:
        idx = float(math.floor(now / params.interval_us))
        stored = self._windows.get(key)
        if stored is None or stored[0] < idx - 1:
            return idx, 0.0, 0.0
        if stored[0] == idx - 1:
            return idx, 0.0, stored[1]
        return stored

    def _live_leases(self, key: str, now: int) -> dict[str, float]:
        leases = self._leases.setdefault(key, {})
        for lease in [name for name, expiry in leases.items() if expiry <= now]:
            del leases[lease]
        return leases

    def _forget_idle(self, now: int) -> None:
        self._tat = {key: tat for key, tat in self._tat.items() if tat > now}


def _window_wait(state: tuple[float, float, float], params: LimitParams, cost: float,
                 now: int) -> float | None:
    idx, curr, prev = state
    window, limit = params.interval_us, params.capacity
    if cost > limit:
        return None
    elapsed = now - idx * window
    estimate = prev * ((window - elapsed) / window) + curr
    if estimate + cost <= limit:
        return 0.0
    if curr + cost <= limit:  # wait until enough of the previous window has slid out
        wait = window - (limit - curr - cost) * window / prev - elapsed
    else:  # wait for the next window, where this one becomes the previous
        later = max(0.0, window - (limit - cost) * window / curr) if curr > 0 else 0.0
        wait = (window - elapsed) + later
    return max(1.0, wait)
