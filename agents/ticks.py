"""Timers shared by tick: everything of a loop due in the same tick fires from one timer.

A timer per item is a heap push with Python comparisons against every other
timer of the loop, tens of thousands with calls in flight (3.9 µs an
``asyncio.timeout`` with 20,000 pending). Items due in the same tick of
``width`` seconds share one timer; an item fires at the end of its tick, up to
``width`` late and never early. Used for tool deadlines and for the first
renewal of lease keepers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Tick = tuple[float, int]  # (width, n): due at width * n


class SharedTicks(Generic[K, V]):
    """Arm ``key`` (with ``value``) to fire ``fire(key, value)`` once ``when`` has passed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[K, V], object]) -> None:
        self.loop = loop
        self._fire_one = fire
        self._ticks: dict[Tick, dict[K, V]] = {}

    def arm(self, key: K, value: V, when: float, width: float) -> Tick:
        tick = (width, math.ceil(when / width))
        due = self._ticks.get(tick)
        if due is None:
            due = self._ticks[tick] = {}
            self.loop.call_at(width * tick[1], self._fire, tick)
        due[key] = value
        return tick

    def disarm(self, key: K, tick: Tick) -> None:
        due = self._ticks.get(tick)
        if due is not None:
            due.pop(key, None)

    def _fire(self, tick: Tick) -> None:
        for key, value in self._ticks.pop(tick, {}).items():
            self._fire_one(key, value)


class LatestTicks(Generic[K, V]):
    """The schedule of the running loop, for one kind of item.

    A worker runs one loop, so the latest schedule is kept at hand; another loop
    gets a new one, and items armed on the old one keep it (and its timers) until
    they fire or are disarmed.
    """

    def __init__(self, fire: Callable[[K, V], object]) -> None:
        self._fire = fire
        self._latest: SharedTicks[K, V] | None = None

    def of(self, loop: asyncio.AbstractEventLoop) -> SharedTicks[K, V]:
        latest = self._latest
        if latest is None or latest.loop is not loop:
            latest = self._latest = SharedTicks(loop, self._fire)
        return latest
