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
from typing import Any, TypeVar

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

T = TypeVar("T")
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
        """The cache key of ``request``, or None: no caching tool, bypassed, or no exact key.

        A dependent call (``depends_on``) has none: its arguments still hold ``$ref``
        objects, resolved only when it runs, so they name no answer yet.
        """
        spec = self._specs.get(request.tool)
        if spec is None or request.cache != "use" or request.depends_on:
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

    async def begin_beside(self, claiming: Awaitable[T], keyed: dict[int, CacheKey]
                           ) -> tuple[T, dict[int, CacheOpening]]:
        """The ledger's claims and the cache's openings at once; if the claims fail (or
        this is cancelled), the flights won are ended, not left for their lease."""
        beginning = asyncio.ensure_future(self.begin(keyed))
        try:
            claims = await claiming
        except BaseException:
            if not beginning.done():
                beginning.cancel()  # ResultCache.begin ends what a cancelled begin won
            beginning.add_done_callback(self._end_won)
            raise
        return claims, await beginning

    def _end_won(self, beginning: asyncio.Future[dict[int, CacheOpening]]) -> None:
        if beginning.cancelled() or beginning.exception() is not None:
            return
        for got in beginning.result().values():
            if isinstance(got, Flight):
                self.end_soon(got)

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
        """The flight ``open_many`` won for this claim; whoever takes it must end it."""
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
                joined = await self._join(request, key)
                if isinstance(joined, CallOutcome):
                    return seal(joined)
                got = joined
            if isinstance(got, CacheHit):
                return seal(cached_outcome(got))
            if not isinstance(got, Flight):  # Redis failed, or the wait ran out: run uncached
                return await run()
            flight = got
        try:
            sealed = await run()
        except BaseException:
            self.end_soon(flight)
            raise
        await self.cache.finish([(flight, _output_of(sealed))])
        return sealed

    async def _join(self, request: ToolCallRequested, key: CacheKey
                    ) -> CacheOpening | CallOutcome:
        """Join the run of ``key`` under way, no longer than the call's own timeout: past
        it the call ends ``timeout``, as its own run would have."""
        spec = self._specs[request.tool]
        lease_s = self.cache.flight_lease_ms / 1000
        timeout_s = spec.timeout_for(request.timeout_s, default_s=lease_s, max_s=lease_s)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + timeout_s
        got = await self.cache.join(key, max_wait_s=timeout_s)
        if got is None and timeout_s < lease_s and loop.time() >= give_up_at:
            return CallOutcome.failed(
                CallStatus.TIMEOUT, "Timeout",
                f"{spec.name} did not finish within {timeout_s:g}s (an identical call's run, "
                "joined, was still under way)", retryable=True, attempts=0)
        return got

    def end_soon(self, flight: Flight) -> None:
        """End a flight whose run failed or was cancelled, without waiting for it."""
        task = asyncio.get_running_loop().create_task(self.cache.finish([(flight, NOT_OK)]))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


def _output_of(sealed: Sealed | None) -> Any:
    """What an ended call stores: its output as the result's JSON has it, if it is ok."""
    if sealed is None or sealed.status is not CallStatus.OK:
        return NOT_OK
    return orjson.loads(sealed.wire)["output"]
