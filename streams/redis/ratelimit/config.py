'''The limits a deployment declares, validated with pydantic.

A limits file is TOML (see :func:`~.loader.load_limits`). Every table in
``[[limits]]`` is one limit; ``scope`` says what it counts (one tool, one
service shared by several tools, one tenant, or everything), ``match`` which
tool/service/tenant (``"*"``: each one separately), ``kind`` how:

- ``token_bucket``: GCRA, ``rate`` units per ``per``, at most ``burst`` at once.
  Exact: over any span of t seconds at most ``rate * t + burst`` units pass.
- ``sliding_window``: at most ``rate`` units per ``per``-long window, estimated
  from the current and previous fixed windows (the previous one weighted by how
  much of it still overlaps). Exact for steady traffic and O(1) per key, but it
  assumes the previous window's calls were spread evenly: if they all came at its
  very end, a span straddling the boundary can pass up to twice ``rate``. Prefer
  ``token_bucket`` where that matters.
- ``concurrency``: at most ``max_in_flight`` calls running. Each permit is a
  lease of ``lease_s`` renewed while the call runs, so a crashed worker's permits
  come back on their own within ``lease_s``.

``units = "cost"`` makes a rate limit cost-weighted: a call consumes its tool's
``cost`` (e.g. tokens) instead of 1, so one service can have requests/minute and
tokens/minute at once. ``backpressure = "wait"`` queues calls until the limit
lets them through (in arrival order); ``"reject"`` fails them at once with the
time to wait.

Example::

    namespace = "tf:limits"        # Redis keys are {tf:limits}:<limit>:...
    failure_policy = "fail_open"   # or "fail_closed": wait for Redis to return
    worker_share = 0.25            # this worker's share when Redis is down

    [[limits]]
    name = "search-rps"
    scope = "tool"
    match = "search"
    kind = "token_bucket"
    rate = 50
    per = "second"
    burst = 20

    [[limits]]
    name = "openai-requests"
    scope = "service"
    match = "openai"
    kind = "token_bucket"
    rate = 500
    per = "minute"

    [[limits]]
    name = "openai-tokens"          # cost-weighted: each call consumes its cost
    scope = "service"
    match = "openai"
    kind = "token_bucket"
    units = "cost"
    rate = 90000
    per = "minute"
    burst = 20000

    [[limits]]
    name = "tenant-window"          # every tenant gets its own window
    scope = "tenant"
    match = "*"
    kind = "sliding_window"
    rate = 600
    per = "minute"
    backpressure = "reject"

    [[limits]]
    name = "crawler-in-flight"
    scope = "service"
    match = "crawler"
    kind = "concurrency"
    max_in_flight = 8
    lease_s = 30
'''

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

__all__ = ["Backpressure", "ConcurrencyLimit", "FailurePolicy", "Limit", "LimitsConfig",
           "Scope", "SlidingWindowLimit", "TokenBucketLimit", "Units"]

Scope = Literal["tool", "service", "tenant", "global"]
Backpressure = Literal["wait", "reject"]
Units = Literal["calls", "cost"]
FailurePolicy = Literal["fail_open", "fail_closed"]
PeriodName = Literal["second", "minute", "hour", "day"]

_PERIOD_S: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


class _LimitBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, description="Unique; used in Redis keys and metrics.")
    scope: Scope
    match: str = Field(default="*", min_length=1,
                       description='Tool, service or tenant name; "*" counts each separately.')
    backpressure: Backpressure = "wait"

    @model_validator(mode="after")
    def _global_has_no_match(self) -> Self:
        if self.scope == "global" and self.match != "*":
            raise ValueError('a "global" limit applies to every call: remove "match"')
        return self


class _RateLimitBase(_LimitBase):
    rate: PositiveFloat = Field(description="Units allowed per period.")
    per: PeriodName | PositiveFloat = Field(
        default="second", description='"second", "minute", "hour", "day" or seconds.')
    units: Units = "calls"

    @property
    def period_s(self) -> float:
        return _PERIOD_S[self.per] if isinstance(self.per, str) else float(self.per)


class TokenBucketLimit(_RateLimitBase):
    """GCRA: ``rate`` per ``per``, up to ``burst`` units at once (default: ``rate``)."""

    kind: Literal["token_bucket"]
    burst: PositiveFloat | None = None

    @property
    def capacity(self) -> float:
        return self.rate if self.burst is None else self.burst

    @model_validator(mode="after")
    def _burst_fits_a_call(self) -> Self:
        if self.units == "calls" and self.capacity < 1:
            raise ValueError("burst must be at least 1 call, or no call could ever pass")
        return self


class SlidingWindowLimit(_RateLimitBase):
    """At most ``rate`` units per ``per``-long window (see the module docs for accuracy)."""

    kind: Literal["sliding_window"]

    @property
    def capacity(self) -> float:
        return self.rate

    @model_validator(mode="after")
    def _window_fits_a_call(self) -> Self:
        if self.units == "calls" and self.rate < 1:
            raise ValueError("rate must be at least 1 call per window, or no call could pass")
        return self


class ConcurrencyLimit(_LimitBase):
    """At most ``max_in_flight`` calls running, each holding a lease of ``lease_s``."""

    kind: Literal["concurrency"]
    max_in_flight: int = Field(ge=1)
    lease_s: PositiveFloat = Field(default=30.0, description="A crashed worker's permits "
                                   "come back after this long.")
    poll_ms: PositiveFloat = Field(default=20.0, description="How often a waiting call "
                                   "retries when the permits are held by other workers.")

    @property
    def capacity(self) -> float:
        return float(self.max_in_flight)


Limit = Annotated[TokenBucketLimit | SlidingWindowLimit | ConcurrencyLimit,
                  Field(discriminator="kind")]


class LimitsConfig(BaseModel):
    """A whole limits file: deployment settings and the list of limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: str = Field(default="tf:limits", pattern=r"^[^{}\s]{1,100}$",
                           description="Redis hash tag of every limit key.")
    failure_policy: FailurePolicy = "fail_open"
    worker_share: float = Field(default=1.0, gt=0, le=1, description=(
        "Fraction of each limit this worker takes when Redis is down (fail_open)."))
    limits: list[Limit] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        seen: set[str] = set()
        for limit in self.limits:
            if limit.name in seen:
                raise ValueError(f"two limits are named {limit.name!r}; names must be unique")
            seen.add(limit.name)
        return self
