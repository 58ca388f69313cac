"""Which limits apply to a call: pure resolution of the config, cached per call shape.

A call is described by its tool, service (if the tool declares one) and tenant.
Each configured limit whose scope matches becomes a :class:`BoundLimit` with its
own Redis key, so a ``match = "*"`` limit gives every tool/service/tenant a
separate budget. Resolution runs once per distinct (tool, service, tenant).
"""

from __future__ import annotations

from functools import lru_cache

from async_toolformer.streams.redis.ratelimit.config import (
    ConcurrencyLimit,
    Limit,
    LimitsConfig,
    SlidingWindowLimit,
    TokenBucketLimit,
)
from async_toolformer.streams.redis.ratelimit.decisions import BoundLimit, Kind, LimitParams

__all__ = ["GLOBAL_SUBJECT", "LimitResolver", "key_pattern", "limit_key", "limit_params"]

GLOBAL_SUBJECT = "_all"
_KIND_TAG = {Kind.GCRA: "g", Kind.SLIDING_WINDOW: "w", Kind.CONCURRENCY: "c"}


def limit_params(limit: Limit) -> LimitParams:
    if isinstance(limit, TokenBucketLimit):
        return LimitParams(Kind.GCRA, limit.period_s * 1e6 / limit.rate, limit.capacity)
    if isinstance(limit, SlidingWindowLimit):
        return LimitParams(Kind.SLIDING_WINDOW, limit.period_s * 1e6, limit.capacity)
    return LimitParams(Kind.CONCURRENCY, limit.lease_s * 1e6, limit.capacity,
                       limit.poll_ms * 1000)


def limit_key(namespace: str, limit: Limit, subject: str) -> str:
    """``{namespace}:<limit>:<kind>:<subject>``; the kind keeps a changed config from
    reading a key of another type."""
    return f"{{{namespace}}}:{limit.name}:{_KIND_TAG[limit_params(limit).kind]}:{subject}"


def key_pattern(namespace: str, limit: Limit) -> str:
    """SCAN pattern of every key of ``limit`` (glob characters escaped)."""
    prefix = limit_key(namespace, limit, "")
    return "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"


def bind(namespace: str, limit: Limit, subject: str) -> BoundLimit:
    return BoundLimit(
        name=limit.name,
        key=limit_key(namespace, limit, subject),
        params=limit_params(limit),
        uses_cost=not isinstance(limit, ConcurrencyLimit) and limit.units == "cost",
        reject=limit.backpressure == "reject",
    )


class LimitResolver:
    """``resolve(tool, service, tenant)`` -> the bound limits of that call, in file order."""

    def __init__(self, config: LimitsConfig, *, cache_size: int = 65_536) -> None:
        self._config = config
        self.resolve = lru_cache(maxsize=cache_size)(self._resolve)

    def _resolve(self, tool: str, service: str | None, tenant: str
                 ) -> tuple[BoundLimit, ...]:
        bound: list[BoundLimit] = []
        for limit in self._config.limits:
            subject = _subject(limit, tool, service, tenant)
            if subject is not None:
                bound.append(bind(self._config.namespace, limit, subject))
        return tuple(bound)


def _subject(limit: Limit, tool: str, service: str | None, tenant: str) -> str | None:
    if limit.scope == "global":
        return GLOBAL_SUBJECT
    value = {"tool": tool, "service": service, "tenant": tenant}[limit.scope]
    if value is None or (limit.match not in ("*", value)):
        return None
    return value
