"""The shared result cache of read-only tools, in Redis, with single flight across workers.

A tool that declares ``cache_ttl_s`` (and is ``read_only`` and ``idempotent``)
lets an ``ok`` result answer identical calls (same tenant, tool and validated
arguments: :mod:`~async_toolformer.agents.executor.cache_keys`) for that long.
The cache only changes *when* a call is answered, never *what*: the answer is
the cached output, sealed for the asking call (its own call_id, session, branch)
with ``cached=True`` and its age, and recorded in the execution ledger under
that call's claim like any result (:class:`~async_toolformer.streams.redis.call_guard.LedgerGuard`).

Keys, under the ledger's namespace, one server (like the ledger's batches):

- ``toolformer:cache:<ns>:e:<digest>``: the entry, ``<stored_at_ms>:<payload>``,
  the payload orjson ``{"k": digest, "o": output}``, expiring after the TTL.
  The time is the Redis server's, so ages agree across workers.
- ``toolformer:cache:<ns>:f:<digest>``: the *flight*, a random token with a
  lease (``SET NX PX``): one run of that key is under way somewhere.

The API, also for speculative runs (which should land their results here and
let a real call join them):

- :meth:`ResultCache.key_of` ``(tenant, spec, arguments)``: the :class:`CacheKey`,
  or None when the tool does not cache or the arguments have no exact key.
- :meth:`ResultCache.begin` ``(keys)``: one round trip for many keys; each is a
  :class:`CacheHit` (answer with it), a :class:`Flight` (yours to run: call
  :meth:`finish` with the output, or with :data:`NOT_OK` to just end it), a
  :class:`Busy` (another run is in flight: :meth:`join` it) or None (Redis
  failed: run it uncached).
  A key that holds something not ours (tampered, another type, a flight with
  no lease) is a flight with an empty token: run it, and its output overwrites.
- :meth:`ResultCache.join` ``(key)``: wait for a busy key's entry or for its
  flight to end (then the flight is yours); never longer than the flight lease.
- :meth:`ResultCache.finish` ``([(flight, output), ...])``: store ok outputs and
  end the flights, one round trip; :meth:`lookup` reads without claiming;
  :meth:`forget` deletes entries (a wasted speculative run's).

Every failure fails open: a Redis error is logged (at most every 10 s) and
counted, and the call runs as if it had no cache. An entry that does not
decode, names another key or is too large reads as a miss.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from async_toolformer.agents.executor.cache_keys import CacheKey, Uncacheable, cache_key_of
from async_toolformer.agents.executor.limits import shape_problem
from async_toolformer.agents.tools import ToolSpec
from async_toolformer.schemas.calls import MAX_CACHE_AGE_MS
from async_toolformer.streams.redis.result_cache_metrics import ResultCacheMetrics

__all__ = ["NOT_OK", "Busy", "CacheHit", "CacheKey", "CacheOpening", "Flight", "ResultCache",
           "cache_prefix"]

logger = logging.getLogger(__name__)

NOT_OK: Final = object()
"""The output of a run that must not be cached (not ``ok``): :meth:`ResultCache.finish`
then only ends the flight."""

_LOG_EVERY_S = 10.0
_FIRST_POLL_S = 0.002
_LEASE_GRACE_S = 0.1
_MAX_POLL_S = 0.1
_STAMP_DIGITS = 16  # a millisecond clock, as written by the scripts

# KEYS: entry, flight pairs. ARGV: lease_ms, then a token per pair.
# Each reply: {1, entry, now_ms} a hit | {2} flight acquired | {3, pttl} busy | {4} foreign
_BEGIN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local entry = redis.pcall('GET', KEYS[i])
  if type(entry) == 'table' and entry.err then
    out[#out + 1] = {4}
  elseif entry then
    out[#out + 1] = {1, entry, now}
  else
    local won = redis.pcall('SET', KEYS[i + 1], ARGV[(i + 1) / 2 + 1], 'NX', 'PX', lease)
    if type(won) == 'table' and won.err then
      out[#out + 1] = {4}
    elseif won then
      out[#out + 1] = {2}
    else
      out[#out + 1] = {3, redis.call('PTTL', KEYS[i + 1])}
    end
  end
end
return out
"""

# KEYS: entry, flight pairs. ARGV: per pair token, ttl_ms, payload ('' : store nothing).
_FINISH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS, 2 do
  local j = (i - 1) / 2 * 3
  local token, ttl, payload = ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  if payload ~= '' then
    redis.pcall('SET', KEYS[i], now .. ':' .. payload, 'PX', ttl)
  end
  if token ~= '' and redis.pcall('GET', KEYS[i + 1]) == token then
    redis.call('DEL', KEYS[i + 1])
  end
end
return 1
"""

# KEYS: entries. Each reply: {entry or false, now_ms}.
_LOOKUP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local entry = redis.pcall('GET', KEYS[i])
  if type(entry) == 'table' then entry = false end
  out[i] = {entry, now}
end
return out
"""


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A fresh cached output (JSON value) and how old it is."""

    output: Any
    age_ms: float
    size: int  # bytes of the entry read


@dataclass(frozen=True, slots=True)
class Flight:
    """This holder runs ``key``; identical calls wait for it. End it with
    :meth:`ResultCache.finish`."""

    key: CacheKey
    token: str


@dataclass(frozen=True, slots=True)
class Busy:
    """Another run of ``key`` is in flight for up to ``lease_left_ms`` more."""

    key: CacheKey
    lease_left_ms: int


CacheOpening = CacheHit | Flight | Busy | None


def cache_prefix(namespace: str) -> str:
    """Where the cache of ledger namespace ``namespace`` lives."""
    return f"toolformer:cache:{namespace}:"


class ResultCache:
    """Cached ``ok`` outputs of read-only tools, and the flights that fill them."""

    def __init__(self, redis: Redis, *, namespace: str = "default",
                 max_entry_bytes: int = 1_000_000, max_depth: int = 64,
                 flight_lease_ms: int = 30_000,
                 metrics: ResultCacheMetrics | None = None) -> None:
        self.redis = redis
        self.prefix = cache_prefix(namespace)
        self.max_entry_bytes = max_entry_bytes  # the largest output stored or read
        self.max_depth = max_depth  # the deepest output answered (as a result's own bound)
        self.flight_lease_ms = flight_lease_ms
        self.metrics = metrics if metrics is not None else ResultCacheMetrics()
        self._begin = redis.register_script(_BEGIN)
        self._finish = redis.register_script(_FINISH)
        self._lookup = redis.register_script(_LOOKUP)
        self._logged_at = -_LOG_EVERY_S
        self._ending: set[asyncio.Task[None]] = set()

    def key_of(self, tenant: str, spec: ToolSpec, arguments: dict[str, Any]) -> CacheKey | None:
        """The key of a call, or None: the tool does not cache, or the arguments have no
        exact key (counted by reason)."""
        if spec.cache_ttl_s is None:
            return None
        key = cache_key_of(tenant, spec, arguments)
        if isinstance(key, Uncacheable):
            self.metrics.uncacheable.labels(reason=key.reason).inc()
            return None
        return key

    def entry_key(self, key: CacheKey) -> str:
        return f"{self.prefix}e:{key.digest}"

    def flight_key(self, key: CacheKey) -> str:
        return f"{self.prefix}f:{key.digest}"

    async def begin(self, keys: Sequence[CacheKey]) -> list[CacheOpening]:
        """For each key at once: a hit, a flight of its own, or busy; None where Redis failed."""
        if not keys:
            return []
        names: list[str] = []
        tokens: list[str] = []
        for key in keys:
            names += (self.entry_key(key), self.flight_key(key))
            tokens.append(secrets.token_hex(8))
        try:
            replies = await self._begin(keys=names, args=[self.flight_lease_ms, *tokens])
        except (RedisError, OSError) as exc:
            self._unavailable("begin", exc, len(keys))
            return [None] * len(keys)
        except asyncio.CancelledError:
            # The script may have run and won flights nobody will end: end each token
            # (a flight only ends if it holds that token, so none won elsewhere is touched).
            self._end_later([(Flight(key, token), NOT_OK)
                             for key, token in zip(keys, tokens, strict=True)])
            raise
        openings: list[CacheOpening] = []
        for key, token, reply in zip(keys, tokens, replies, strict=True):
            openings.append(self._opening(key, token, reply))
        return openings

    async def join(self, key: CacheKey, *, max_wait_s: float | None = None) -> CacheOpening:
        """Wait for a busy key: its entry (a hit), or its flight's end (then a flight of
        one's own), polling; None if Redis fails or ``max_wait_s`` (default: the flight
        lease, and a tenth of a second for the clocks) passes first, and the caller runs it
        uncached."""
        self.metrics.joins.labels(tool=key.tool).inc()
        loop = asyncio.get_running_loop()
        # By default a little past the lease: this loop's clock and Redis's expiry are not
        # one clock, and a joiner giving up just before the flight expires would run uncached.
        limit = self.flight_lease_ms / 1000 + _LEASE_GRACE_S if max_wait_s is None else max_wait_s
        give_up_at = loop.time() + limit
        pause = _FIRST_POLL_S
        while True:
            [opening] = await self.begin([key])
            if not isinstance(opening, Busy):
                return opening
            left = give_up_at - loop.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(pause, left, max(opening.lease_left_ms, 1) / 1000))
            pause = min(pause * 2, _MAX_POLL_S)

    async def finish(self, landed: Sequence[tuple[Flight, Any]]) -> None:
        """Store each ok output (``NOT_OK``: none) and end its flight, in one round trip."""
        if not landed:
            return
        names: list[str] = []
        args: list[str | int | bytes] = []
        for flight, output in landed:
            names += (self.entry_key(flight.key), self.flight_key(flight.key))
            payload = b"" if output is NOT_OK else self._payload(flight.key, output)
            args += (flight.token, flight.key.ttl_ms, payload)
        await self._finish_raw(names, args, len(landed))

    def _end_later(self, landed: list[tuple[Flight, Any]]) -> None:
        """``finish`` on a task of its own (for a caller being cancelled)."""
        task = asyncio.get_running_loop().create_task(self.finish(landed))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def forget(self, keys: Sequence[CacheKey]) -> None:
        """Delete the entries of ``keys`` (a speculative output that must not answer)."""
        if not keys:
            return
        try:
            await self.redis.delete(*(self.entry_key(key) for key in keys))
        except (RedisError, OSError) as exc:
            self._unavailable("forget", exc, len(keys))

    async def store(self, key: CacheKey, output: Any) -> bool:
        """Store ``output`` under ``key`` without a flight (a result obtained elsewhere);
        False if it is too large or Redis failed."""
        payload = self._payload(key, output)
        if not payload:
            return False
        return await self._finish_raw([self.entry_key(key), self.flight_key(key)],
                                      ["", key.ttl_ms, payload], 1)

    async def lookup(self, keys: Sequence[CacheKey]) -> list[CacheHit | None]:
        """A fresh hit for each key, or None (a miss, or Redis failed); claims nothing."""
        if not keys:
            return []
        try:
            replies = await self._lookup(keys=[self.entry_key(k) for k in keys], args=[])
        except (RedisError, OSError) as exc:
            self._unavailable("lookup", exc, len(keys))
            return [None] * len(keys)
        hits: list[CacheHit | None] = []
        for key, (stored, now_ms) in zip(keys, replies, strict=True):
            hit = self._decode(key, stored, int(now_ms)) if stored else None
            if hit is not None:
                self.metrics.hits.labels(tool=key.tool).inc()
                self.metrics.bytes.labels(direction="read").inc(hit.size)
            hits.append(hit)
        return hits

    # -- inside -----------------------------------------------------------------------------

    def _opening(self, key: CacheKey, token: str, reply: list[Any]) -> CacheOpening:
        kind = int(reply[0])
        if kind == 1:
            hit = self._decode(key, reply[1], int(reply[2]))
            if hit is not None:
                self.metrics.hits.labels(tool=key.tool).inc()
                self.metrics.bytes.labels(direction="read").inc(hit.size)
                return hit
        elif kind == 2:
            self.metrics.misses.labels(tool=key.tool).inc()
            return Flight(key, token)
        elif kind == 3 and int(reply[1]) >= 0:
            return Busy(key, int(reply[1]))
        else:  # a key of another type, or a flight with no lease
            self.metrics.errors.labels(kind="undecodable").inc()
        # Not an entry of ours: run it without a lease, and let its ok output overwrite it.
        self.metrics.misses.labels(tool=key.tool).inc()
        return Flight(key, "")

    def _decode(self, key: CacheKey, stored: bytes, now_ms: int) -> CacheHit | None:
        """The entry as a hit, or None (counted) if it is not a whole entry of this key."""
        hit = _decoded(key, stored, now_ms, self.max_entry_bytes, self.max_depth)
        if hit is None:
            self.metrics.errors.labels(kind="undecodable").inc()
            logger.warning("result cache entry %s does not decode as an entry of its key; "
                           "read as a miss", self.entry_key(key))
        return hit

    def _payload(self, key: CacheKey, output: Any) -> bytes:
        """The stored form of ``output``, or b"" if it cannot or may not be stored."""
        try:
            payload = orjson.dumps({"k": key.digest, "o": output})
        except (orjson.JSONEncodeError, TypeError):
            self.metrics.uncacheable.labels(reason="unsupported_result").inc()
            return b""
        if len(payload) > self.max_entry_bytes:
            self.metrics.uncacheable.labels(reason="result_too_large").inc()
            return b""
        self.metrics.bytes.labels(direction="written").inc(len(payload))
        return payload

    async def _finish_raw(self, names: list[str], args: list[str | int | bytes],
                          count: int) -> bool:
        try:
            await self._finish(keys=names, args=args)
        except (RedisError, OSError) as exc:
            self._unavailable("finish", exc, count)
            return False
        return True

    def _unavailable(self, step: str, exc: BaseException, count: int) -> None:
        self.metrics.errors.labels(kind="unavailable").inc(count)
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY_S:
            self._logged_at = now
            logger.warning("result cache %s failed for %d calls (%r); they run uncached",
                           step, count, exc)


def _decoded(key: CacheKey, stored: bytes, now_ms: int, max_bytes: int,
             max_depth: int) -> CacheHit | None:
    if not isinstance(stored, bytes) or len(stored) > max_bytes + _STAMP_DIGITS + 1:
        return None
    stamp, sep, payload = stored.partition(b":")
    if not sep or not stamp.isdigit() or len(stamp) > _STAMP_DIGITS:
        return None
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if (not isinstance(body, dict) or body.get("k") != key.digest or "o" not in body
            or len(body) != 2):
        return None
    output = body["o"]
    if shape_problem(output, max_depth=max_depth) is not None:
        return None
    age = min(max(0.0, float(now_ms - int(stamp))), float(key.ttl_ms), MAX_CACHE_AGE_MS)
    return CacheHit(output, age, len(stored))
