"""Keep a claim's lease alive while its tool runs, and say when it is lost.

A lost lease means another worker may take the call over; the fencing token
still keeps this worker from recording over it, but the caller may want to stop
the tool early (``on_lost``) or mark its own result as superseded (``lost``).

    async with LeaseKeeper(ledger, call_id, claim.token, on_lost=task.cancel) as keeper:
        result = await run_tool()
    if keeper.lost.is_set(): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from types import TracebackType

from .exceptions import LedgerUnavailableError
from .protocol import Ledger

_TICKS_PER_INTERVAL = 20  # a first renewal may come up to 1/20 of its interval late


class _FirstRenewals:
    """One timer per tick for every keeper of a loop whose first renewal falls in it.

    Most calls end long before their first renewal, so their keeper's only cost
    was arming a timer and cancelling it: a heap push with Python comparisons
    against every other timer of the loop (tens of thousands with calls in flight).
    Keepers that share a tick share one timer; one that exits leaves its tick.
    """

    _latest: _FirstRenewals | None = None  # a worker runs one loop: keep its schedule at hand

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._ticks: dict[tuple[float, int], dict[LeaseKeeper, float]] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _FirstRenewals:
        """The schedule of ``loop``. Another loop gets a new one; keepers armed on the
        old one keep it (and its timers) until they fire or exit."""
        latest = cls._latest
        if latest is None or latest.loop is not loop:
            latest = cls._latest = cls(loop)
        return latest

    def arm(self, keeper: LeaseKeeper, after_s: float, valid_until: float) -> tuple[float, int]:
        width = after_s / _TICKS_PER_INTERVAL
        tick = (width, math.ceil((self.loop.time() + after_s) / width))
        due = self._ticks.get(tick)
        if due is None:
            due = self._ticks[tick] = {}
            self.loop.call_at(tick[0] * tick[1], self._fire, tick)
        due[keeper] = valid_until
        return tick

    def disarm(self, keeper: LeaseKeeper, tick: tuple[float, int]) -> None:
        due = self._ticks.get(tick)
        if due is not None:
            due.pop(keeper, None)

    def _fire(self, tick: tuple[float, int]) -> None:
        for keeper, valid_until in self._ticks.pop(tick, {}).items():
            keeper._start(valid_until)


class LeaseKeeper:
    """Renew every ``interval_s`` (a third of the lease by default) until exit."""

    def __init__(self, ledger: Ledger, call_id: str, token: int, *,
                 lease_ms: int | None = None, interval_s: float | None = None,
                 on_lost: Callable[[], object] | None = None) -> None:
        self._ledger = ledger
        self._call_id = call_id
        self._token = token
        self._lease_ms = lease_ms or ledger.lease_ms
        self._interval_s = interval_s or self._lease_ms / 3000
        self._on_lost = on_lost
        self._tick: tuple[float, int] | None = None
        self._schedule: _FirstRenewals | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Event | None = None
        self.renewals = 0

    @property
    def lost(self) -> asyncio.Event:
        """Set once the lease is lost; made on first use, since most calls never ask."""
        if self._lost is None:
            self._lost = asyncio.Event()
        return self._lost

    async def __aenter__(self) -> LeaseKeeper:
        # Most calls end long before their first renewal: a shared timer costs them
        # far less than a task would, and the task starts only if the timer fires.
        loop = asyncio.get_running_loop()
        # The claim was granted just before entry; count the lease from now, conservatively.
        valid_until = loop.time() + self._lease_ms / 1000
        self._schedule = _FirstRenewals.of(loop)
        self._tick = self._schedule.arm(self, self._interval_s, valid_until)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._tick is not None and self._schedule is not None:
            self._schedule.disarm(self, self._tick)
            self._tick = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _start(self, valid_until: float) -> None:
        self._tick = None
        self._task = asyncio.get_running_loop().create_task(self._keep(valid_until))

    async def _keep(self, valid_until: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            sent_at = loop.time()
            try:
                kept = await self._ledger.renew(self._call_id, self._token,
                                                lease_ms=self._lease_ms)
            except LedgerUnavailableError:
                kept = loop.time() < valid_until  # Redis may come back before the lease ends
            else:
                if kept:
                    self.renewals += 1
                    valid_until = sent_at + self._lease_ms / 1000
            if not kept:
                self._lose()
                return
            await asyncio.sleep(self._interval_s)

    def _lose(self) -> None:
        self.lost.set()
        if self._on_lost is not None:
            self._on_lost()
