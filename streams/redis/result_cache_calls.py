"""The result cache around the ledger's calls: which openings it turns into answers.

:class:`~async_toolformer.streams.redis.call_guard.LedgerGuard` asks it at three
points, and only for calls of tools that declare ``cache_ttl_s`` (a worker
without such tools pays one empty-dict check per batch):

- ``open_many``: the cache is asked for the batch's cacheable calls in one round
  trip, alongside the ledger's claims. A fresh claim with a hit becomes
  :class:`~async_toolformer.agents.executor.Reused` (the executor seals the
  cached output for that call and records it under its claim); one that won
  the flight runs at once; one whose key is in flight elsewhere becomes a
  ``Claimed(waits=True)`` and joins that run in ``hold``.
- ``record_many`` / ``release_many``: the flights of ended calls are finished
  (ok outputs stored) in one round trip beside the ledger's.
- ``hold`` / ``guard``: :meth:`CachedCalls.run` wraps the tool's run: a hit
  answers, a busy key is joined, a won flight runs and stores.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import orjson

from async_toolformer.agents.executor import CallOutcome, Claimed, Opening, Reused, Seal, Sealed
from async_toolformer.agents.executor.cache_keys import CacheKey
from async_toolformer.agents.tools import ToolSpec
from async_toolformer.schemas import CallStatus, ToolCallRequested
from async_toolformer.streams.redis.result_cache import (
    NOT_OK,
    Busy,
    CacheHit,
    CacheOpening,
    Flight,
    ResultCache,
)

__all__ = ["CachedCalls", "cached_outcome"]

_FlightsBy = tuple[str, int]  # (call_id, claim lease)
# Flights of claimed calls between open_many and their record (normally a run's length);
# one whose call ended elsewhere (a batch that failed) is forgotten past this, its lease ends.
_FLIGHTS_REMEMBERED = 50_000


def cached_outcome(hit: CacheHit) -> CallOutcome:
    """The outcome a cached output answers with: ok, no attempt, its age."""
    return CallOutcome(CallStatus.OK, output=hit.output, cache_age_ms=hit.age_ms)


class CachedCalls:
    """The cache's part in one guard: the caching tools, and the flights its claims hold."""

    def __init__(self, cache: ResultCache, tools: Iterable[ToolSpec]) -> None:
        self.cache = cache
        self._specs = {spec.name: spec for spec in tools if spec.cache_ttl_s is not None}
        self._flights: dict[_FlightsBy, Flight] = {}
        self._ending: set[asyncio.Task[None]] = set()

    def key_of(self, request: ToolCallRequested) -> CacheKey | None:
        """The cache key of ``request``, or None: no caching tool, bypassed, or no exact key."""
        spec = self._specs.get(request.tool)
        if spec is None or request.cache != "use":
            return None
        return self.cache.key_of(request.tenant, spec, request.arguments)

    def keys_of(self, requests: Sequence[ToolCallRequested]) -> dict[int, CacheKey]:
        """The keys of the cacheable calls of a batch, by their place in it."""
        if not self._specs:
            return {}
        keyed: dict[int, CacheKey] = {}
        for i, request in enumerate(requests):
            if request.tool in self._specs and (key := self.key_of(request)) is not None:
                keyed[i] = key
        return keyed

    async def begin(self, keyed: dict[int, CacheKey]) -> dict[int, CacheOpening]:
        places = list(keyed)
        openings = await self.cache.begin([keyed[i] for i in places])
        return dict(zip(places, openings, strict=True))

    async def apply(self, requests: Sequence[ToolCallRequested], openings: list[Opening],
                    begun: dict[int, CacheOpening]) -> list[Opening]:
        """Turn the fresh claims of cacheable calls into answers, flights or waits; end
        the flights won for calls the ledger answered otherwise."""
        unused: list[tuple[Flight, Any]] = []
        for i, got in begun.items():
            opening = openings[i]
            fresh = isinstance(opening, Claimed) and opening.after is None
            if not fresh or not isinstance(opening, Claimed):
                if isinstance(got, Flight):
                    unused.append((got, NOT_OK))
            elif isinstance(got, CacheHit):
                openings[i] = Reused(opening, cached_outcome(got))
            elif isinstance(got, Flight):
                self._flights[(requests[i].call_id, opening.lease)] = got
                if len(self._flights) > _FLIGHTS_REMEMBERED:
                    del self._flights[next(iter(self._flights))]
            elif isinstance(got, Busy):
                openings[i] = dataclasses.replace(opening, waits=True)
        await self.cache.finish(unused)
        return openings

    @property
    def flying(self) -> bool:
        """Whether calls claimed by ``open_many`` hold flights that ``land`` must finish."""
        return bool(self._flights)

    def take_flight(self, call_id: str, lease: int) -> Flight | None:
        return self._flights.pop((call_id, lease), None) if self._flights else None

    async def land(self, done: Sequence[tuple[ToolCallRequested, Claimed, Sealed | None]]
                   ) -> None:
        """Finish the flights of ended calls: store the ok outputs (None: cancelled)."""
        if not self._flights:
            return
        landed: list[tuple[Flight, Any]] = []
        for request, claimed, sealed in done:
            flight = self._flights.pop((request.call_id, claimed.lease), None)
            if flight is not None:
                landed.append((flight, _output_of(sealed)))
        await self.cache.finish(landed)

    async def run(self, request: ToolCallRequested, flight: Flight | None, seal: Seal,
                  run: Callable[[], Awaitable[Sealed]]) -> Sealed:
        """Run a claimed call through the cache: answer a hit, join a run in flight, or run
        it (under a flight of its own when it won one) and store an ok output."""
        if flight is None:
            key = self.key_of(request)
            if key is None:
                return await run()
            [got] = await self.cache.begin([key])
            if isinstance(got, Busy):
                got = await self.cache.join(key)
            if isinstance(got, CacheHit):
                return seal(cached_outcome(got))
            if not isinstance(got, Flight):  # Redis failed, or the wait ran out: run uncached
                return await run()
            flight = got
        try:
            sealed = await run()
        except BaseException:
            self._end_soon(flight)
            raise
        await self.cache.finish([(flight, _output_of(sealed))])
        return sealed

    def _end_soon(self, flight: Flight) -> None:
        """End a flight whose run failed or was cancelled, without waiting for it."""
        task = asyncio.get_running_loop().create_task(self.cache.finish([(flight, NOT_OK)]))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


def _output_of(sealed: Sealed | None) -> Any:
    """What an ended call stores: its output as the result's JSON has it, if it is ok."""
    if sealed is None or sealed.status is not CallStatus.OK:
        return NOT_OK
    return orjson.loads(sealed.wire)["output"]
