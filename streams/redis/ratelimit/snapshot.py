"""What ``limits show`` prints: each limit key's state, computed from raw Redis values."""

from __future__ import annotations

import math
from dataclasses import dataclass

from async_toolformer.streams.redis.ratelimit.config import ConcurrencyLimit, Limit
from async_toolformer.streams.redis.ratelimit.decisions import BoundLimit, Kind

__all__ = ["LimitState", "state_of"]


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit for one subject, as Redis sees it now."""

    limit: str
    kind: str
    scope: str
    subject: str
    units: str
    capacity: float
    available: float
    full_in_ms: int | None  # until the whole capacity is back; None for concurrency


def state_of(limit: Limit, bound: BoundLimit, subject: str, raw: str, now: int) -> LimitState:
    params = bound.params
    available: float
    full_in_us: float | None
    if params.kind is Kind.GCRA:
        backlog = max((float(raw) if raw else now) - now, 0.0)
        available = params.capacity - backlog / params.interval_us
        full_in_us = backlog
    elif params.kind is Kind.SLIDING_WINDOW:
        estimate, full_in_us = _window(raw, params.interval_us, now)
        available = params.capacity - estimate
    else:
        available = params.capacity - (int(raw) if raw else 0)
        full_in_us = None
    units = "calls" if isinstance(limit, ConcurrencyLimit) else limit.units
    return LimitState(
        limit=limit.name, kind=limit.kind, scope=limit.scope, subject=subject, units=units,
        capacity=params.capacity, available=max(0.0, available),
        full_in_ms=None if full_in_us is None else math.ceil(full_in_us / 1000),
    )


def _window(raw: str, window: float, now: int) -> tuple[float, float]:
    """The window's estimate now, and µs until it is back to zero."""
    if not raw:
        return 0.0, 0.0
    idx_s, curr_s, prev_s = raw.split(":")
    idx, curr, prev = float(idx_s), float(curr_s), float(prev_s)
    current = math.floor(now / window)
    if idx < current - 1:
        return 0.0, 0.0
    if idx == current - 1:
        idx, curr, prev = current, 0.0, curr
    elapsed = now - idx * window
    estimate = prev * ((window - elapsed) / window) + curr
    if curr > 0:
        return estimate, (window - elapsed) + window
    return estimate, (window - elapsed) if prev > 0 else 0.0
