"""Cancellations kept in Redis by partition, so a partition's next owner still has them.

One sorted set per partition, ``<prefix>:<namespace>:<partition>``: each member
is a cancellation's wire bytes, scored by when it expires (Unix ms). A save
drops expired members and, past ``max_entries``, those that expire first, and
sets the key to expire with its longest-lived member, in one script; a load reads
the members not yet expired. The workers' clocks decide expiry: a skew of
seconds does not matter next to an hour's TTL. A reason longer than
``max_reason_chars`` is kept cut to that length, so a flood of huge
cancellations cannot fill Redis. A member that is not a cancellation (written by
something else) is skipped with a warning. Redis restarted without persistence
loses them, as it loses the ledger (docs/semantics.md, section 7).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from async_toolformer.agents.executor.kept_cancellations import (
    CancellationStoreUnavailableError,
)
from async_toolformer.schemas import Cancellation, SchemaError, decode, encode

__all__ = ["RedisCancellationStore"]

logger = logging.getLogger(__name__)

# ARGV: member, now (ms), its expiry (ms), most members kept. The key expires with
# the member that lasts longest.
_SAVE = """
local key = KEYS[1]
local now = tonumber(ARGV[2])
redis.call('ZADD', key, ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[4]) + 1))
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIRE', key, math.max(1, math.ceil(tonumber(last[2]) - now)))
end
return 1
"""


class RedisCancellationStore:
    """A :class:`~async_toolformer.agents.executor.kept_cancellations.CancellationStore`."""

    def __init__(self, redis: Redis, *, namespace: str,
                 key_prefix: str = "toolformer:cancellations", max_entries: int = 10_000,
                 max_reason_chars: int = 1024) -> None:
        self._redis = redis
        self._prefix = f"{key_prefix}:{namespace}:"
        self._max_entries = max_entries
        self._max_reason_chars = max_reason_chars
        self._save = redis.register_script(_SAVE)

    def key(self, partition: int) -> str:
        return f"{self._prefix}{partition}"

    async def save(self, partition: int, cancellation: Cancellation, ttl_s: float) -> None:
        if len(cancellation.reason) > self._max_reason_chars:
            cancellation = cancellation.model_copy(
                update={"reason": cancellation.reason[:self._max_reason_chars]})
        now_ms = int(time.time() * 1000)
        ttl_ms = max(1, int(ttl_s * 1000))
        try:
            await self._save(keys=[self.key(partition)],
                             args=[encode(cancellation), now_ms, now_ms + ttl_ms,
                                   self._max_entries])
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise CancellationStoreUnavailableError(str(exc)) from exc

    async def load(self, partition: int) -> Sequence[tuple[Cancellation, float]]:
        now_ms = int(time.time() * 1000)
        try:
            members = cast("list[tuple[bytes, float]]", await self._redis.zrangebyscore(
                self.key(partition), now_ms, "+inf", withscores=True))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise CancellationStoreUnavailableError(str(exc)) from exc
        kept: list[tuple[Cancellation, float]] = []
        for raw, expires_ms in members:
            try:
                event = decode(raw)
            except SchemaError as exc:
                logger.warning("skipped a member of %s that is not an event: %s",
                               self.key(partition), exc)
                continue
            if not isinstance(event, Cancellation):
                logger.warning("skipped a %s event kept among the cancellations of %s",
                               event.type, self.key(partition))
                continue
            kept.append((event, (expires_ms - now_ms) / 1000))
        return kept
