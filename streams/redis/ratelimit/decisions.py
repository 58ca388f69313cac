"""The plain values a decision is made of, shared by the Redis and local stores.

A :class:`Decision` asks for all limits of one call at once; a store answers an
:class:`Outcome` per decision, all or nothing. Times are integer microseconds of
the store's clock (Redis ``TIME`` in production).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

__all__ = ["Batch", "BoundLimit", "Decision", "DecisionStore", "Kind", "LimitParams",
           "Outcome", "Status"]


class Kind(IntEnum):
    """Wire codes of the limit kinds (the Lua script switches on them)."""

    GCRA = 1
    SLIDING_WINDOW = 2
    CONCURRENCY = 3


class Status(IntEnum):
    DENIED = 0
    ADMITTED = 1
    NEVER = -1  # the cost exceeds what the limit can ever admit


@dataclass(frozen=True, slots=True)
class LimitParams:
    """What the algorithm needs. ``interval_us``: GCRA µs per unit, window length,
    or lease length; ``capacity``: burst, units per window, or permits."""

    kind: Kind
    interval_us: float
    capacity: float
    poll_us: float = 0.0

    def scaled(self, share: float) -> LimitParams:
        """This worker's part of the limit, for the local fallback."""
        if self.kind is Kind.CONCURRENCY:
            return LimitParams(self.kind, self.interval_us,
                               max(1.0, float(int(self.capacity * share))), self.poll_us)
        capacity = max(1.0, self.capacity * share)
        if self.kind is Kind.GCRA:  # rate scales by share: the interval grows
            return LimitParams(self.kind, self.interval_us / share, capacity, self.poll_us)
        return LimitParams(self.kind, self.interval_us, capacity, self.poll_us)


@dataclass(frozen=True, slots=True)
class BoundLimit:
    """One configured limit bound to one subject (tool, service or tenant): one key."""

    name: str
    key: str
    params: LimitParams
    uses_cost: bool
    reject: bool

    def cost_of(self, cost: float) -> float:
        if self.params.kind is Kind.CONCURRENCY or not self.uses_cost:
            return 1.0
        return cost


@dataclass(slots=True)
class Decision:
    """All limits of one call; ``lease`` names its concurrency permits ("" if none)."""

    limits: tuple[BoundLimit, ...]
    cost: float = 1.0
    lease: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    retry_after_us: int = 0
    limiting: int = 0  # index into Decision.limits of the limit that said no


@dataclass(slots=True)
class Batch:
    """One round trip: releases and renewals first, then decisions in order."""

    decisions: list[Decision] = field(default_factory=list)
    releases: list[tuple[BoundLimit, str]] = field(default_factory=list)
    renewals: list[tuple[BoundLimit, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.decisions) + len(self.releases) + len(self.renewals)


class DecisionStore(Protocol):
    """Where limit state lives: Redis (shared) or this process (fallback, tests)."""

    async def apply(self, batch: Batch, *, now_us: int | None = None) -> list[Outcome]:
        """Apply releases, renewals, then each decision; one outcome per decision."""
        ...
