"""Limit state in Redis: a batch of decisions is one EVALSHA, decided on server time.

Every key starts with the namespace's hash tag (``{tf:limits}:...``), so all
keys of any decision live in one Cluster slot. Per-decision tags are not
possible in general: a global, service or tenant limit is shared by many
calls, and any two keys that one call needs together must share a slot, which
chains every key of a deployment into one slot. Use separate namespaces (one
limits file each) to spread independent limit sets over shards.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from async_toolformer.streams.redis.ratelimit import _lua
from async_toolformer.streams.redis.ratelimit.decisions import Batch, BoundLimit, Outcome, Status

__all__ = ["RedisDecisionStore"]


class _Script:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, redis: Redis, keys: Sequence[str], args: Sequence[str | bytes]
                  ) -> list[object]:
        try:
            answer = await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a restarted or flushed Redis forgot it
            await redis.script_load(self.source)
            answer = await redis.evalsha(self.sha, len(keys), *keys, *args)
        return list(answer)


_DECIDE = _Script(_lua.DECIDE)
_PEEK = _Script(_lua.PEEK)


class RedisDecisionStore:
    """The shared store. ``timeout_s`` bounds a round trip so a hung Redis reads as down."""

    def __init__(self, redis: Redis, *, timeout_s: float = 1.0) -> None:
        self.redis = redis
        self._timeout_s = timeout_s

    async def apply(self, batch: Batch, *, now_us: int | None = None) -> list[Outcome]:
        keys, payload = encode_batch(batch)
        now_arg = "" if now_us is None else str(int(now_us))
        async with asyncio.timeout(self._timeout_s):
            flat = await _DECIDE.run(self.redis, keys, (now_arg, payload))
        return [Outcome(Status(int(flat[i])), int(flat[i + 1]),  # type: ignore[call-overload]
                        int(flat[i + 2]))  # type: ignore[call-overload]
                for i in range(0, len(flat), 3)]

    async def ping(self) -> None:
        async with asyncio.timeout(self._timeout_s):
            await self.redis.ping()

    async def peek(self, limits: Sequence[BoundLimit]) -> tuple[int, list[str]]:
        """Server time in µs and the raw state of each limit's key ("" if none)."""
        kinds = [str(int(limit.params.kind)) for limit in limits]
        async with asyncio.timeout(self._timeout_s):
            raw = await _PEEK.run(self.redis, [limit.key for limit in limits], kinds)
        text = [item.decode() if isinstance(item, bytes) else str(item) for item in raw]
        return int(text[0]), text[1:]

    async def keys_matching(self, pattern: str) -> list[str]:
        async with asyncio.timeout(max(self._timeout_s, 10.0)):
            found = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
        return sorted(key.decode() if isinstance(key, bytes) else str(key) for key in found)


def encode_batch(batch: Batch) -> tuple[list[str], bytes]:
    """KEYS and the JSON payload of :data:`._lua.DECIDE` (1-based key indexes)."""
    index: dict[str, int] = {}
    keys: list[str] = []
    params: list[float] = []

    def key_index(limit: BoundLimit) -> int:
        found = index.get(limit.key)
        if found is None:
            keys.append(limit.key)
            found = index[limit.key] = len(keys)
            p = limit.params
            params.extend((int(p.kind), p.interval_us, p.capacity, p.poll_us))
        return found

    releases: list[int | str] = []
    for limit, lease in batch.releases:
        releases += (key_index(limit), lease)
    renewals: list[int | str] = []
    for limit, lease in batch.renewals:
        renewals += (key_index(limit), lease)
    decisions: list[list[float | str]] = []
    for decision in batch.decisions:
        row: list[float | str] = [decision.lease]
        for limit in decision.limits:
            row += (key_index(limit), limit.cost_of(decision.cost))
        decisions.append(row)
    return keys, orjson.dumps([releases, renewals, params, decisions])
