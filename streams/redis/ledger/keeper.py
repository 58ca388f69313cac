"""Keep a claim's lease alive while its work runs, and say when it is lost.

A lease is lost only when the ledger answers that the claim's token is no
longer current: another worker took the call over, or the key is gone (Redis
restarted without persistence, failed over, evicted it). Then ``lost`` is set
and ``on_lost`` is called once, so the caller can stop the work (the claim
protocol, :mod:`async_toolformer.streams.redis.claim`, cancels a running tool).

A Redis that does not answer loses nothing by itself: the keeper keeps trying,
and renewal resumes when Redis answers again. If the outage outlasted the
lease, another worker may have taken the call over in the meantime; the first
answer after the outage says so (lost) or renews the lease as before.

    async with LeaseKeeper(ledger, call_id, claim.token, on_lost=stop_work) as keeper:
        result = await run_tool()
    if keeper.lost.is_set(): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType

from async_toolformer.agents.ticks import LatestTicks, SharedTicks, Tick
from async_toolformer.streams.redis.ledger.exceptions import LedgerUnavailableError
from async_toolformer.streams.redis.ledger.protocol import Ledger

__all__ = ["LeaseKeeper"]

logger = logging.getLogger(__name__)

_TICKS_PER_INTERVAL = 20  # a first renewal may come up to 1/20 of its interval late
_OUTAGE_RETRY_S = 0.5  # while Redis does not answer, try at least this often


def _start_keeper(keeper: LeaseKeeper, valid_until: float) -> None:
    keeper._start(valid_until)


# Most calls end long before their first renewal, so a keeper's only cost was arming a
# timer and cancelling it: keepers whose first renewal falls in the same tick share one.
_first_renewals = LatestTicks["LeaseKeeper", float](_start_keeper)

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
        self._tick: Tick | None = None
        self._schedule: SharedTicks[LeaseKeeper, float] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Event | None = None
        self.renewals = 0
        self.failed_renewals = 0  # attempts Redis did not answer

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
        self._schedule = _first_renewals.of(loop)
        self._tick = self._schedule.arm(self, valid_until, loop.time() + self._interval_s,
                                        self._interval_s / _TICKS_PER_INTERVAL)
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
        warned = False
        while True:
            sent_at = loop.time()
            try:
                kept = await self._ledger.renew(self._call_id, self._token,
                                                lease_ms=self._lease_ms)
            except LedgerUnavailableError as exc:
                self.failed_renewals += 1
                if not warned and loop.time() >= valid_until:
                    warned = True
                    logger.warning(
                        "could not renew the lease of %s for longer than the lease (%s); "
                        "another worker may take it over once Redis answers. Still trying.",
                        self._call_id, exc)
                await asyncio.sleep(min(self._interval_s, _OUTAGE_RETRY_S))
                continue
            if not kept:
                self._lose()
                return
            self.renewals += 1
            valid_until = sent_at + self._lease_ms / 1000
            if warned:
                logger.info("renewed the lease of %s again after an outage", self._call_id)
                warned = False
            await asyncio.sleep(self._interval_s)

    def _lose(self) -> None:
        self.lost.set()
        if self._on_lost is not None:
            self._on_lost()
