"""What the console asks for on a clock, as JSON: the worker group, rate limits, running calls.

- The group comes from :func:`group_status` (members, partitions, lag: an
  estimate on the embedded broker, calls in flight from workers' ``/metrics``).
- Rate limits come from Redis through :meth:`RateLimiter.snapshot`, for the
  limits of a limits file (``TOOLFORMER_LIMITS_FILE``); without one, none.
- A call is running when the execution ledger holds a worker's lease on it:
  its entry (``call_key``) is a hash (owner, expiry) while leased (read with
  ``HMGET``, which changes nothing). Without Redis or with the ledger off, calls go from
  queued straight to their result.

Every answer is data for the page only: no URL, password or setting is in it.
"""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from async_toolformer.streams.kafka.security import KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.console.views import clip
from async_toolformer.streams.ops.group_status import GroupStatus, group_status
from async_toolformer.streams.redis.ledger import ExecutionLedger, call_key
from async_toolformer.streams.redis.ratelimit import LimitsConfig, RateLimiter

__all__ = ["LimitsProbe", "RunningProbe", "group_json", "read_group"]


async def read_group(bootstrap_servers: str, group_id: str, topics: TopicCatalogue, *,
                     metrics_urls: tuple[str, ...], security: KafkaSecurity) -> dict[str, Any]:
    found = await group_status(bootstrap_servers, group_id, topics, metrics_urls=metrics_urls,
                               security=security)
    return group_json(found)


def group_json(found: GroupStatus) -> dict[str, Any]:
    """The group as the page shows it; in-flight figures by worker, not by URL."""
    return {
        "group_id": found.group_id, "topic": found.topic, "state": found.state,
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                     "partitions": list(m.partitions)} for m in found.members],
        "partitions": [{"partition": p.partition, "committed": p.committed, "end": p.end,
                        "lag": p.lag, "owner": p.owner, "owner_source": p.owner_source}
                       for p in found.partitions],
        "total_lag": found.total_lag, "lag_is_estimate": found.lag_is_estimate,
        "in_flight": list(found.in_flight.values()),
    }


class LimitsProbe:
    """Each limit's state now; its limiter (and Redis client) is opened once."""

    def __init__(self, config: LimitsConfig, redis: Redis) -> None:
        self.config = config
        self._limiter = RateLimiter(config, redis)

    async def read(self) -> dict[str, Any]:
        states = await self._limiter.snapshot()
        return {"namespace": clip(self.config.namespace, 100), "limits": [
            {"limit": s.limit, "kind": s.kind, "scope": s.scope,
             "subject": clip(s.subject, 200), "units": s.units, "capacity": s.capacity,
             "available": s.available, "full_in_ms": s.full_in_ms} for s in states]}

    async def aclose(self) -> None:
        await self._limiter.aclose()


class RunningProbe:
    """Which of some calls a worker holds in the ledger now, and who."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self._redis = redis
        self._ledger = ExecutionLedger(redis, namespace=namespace)  # for its key names only

    async def read(self, calls: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """(session_id, call_id, owner) of the ``calls`` under a live lease."""
        if not calls:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for _, call_id in calls:
                pipe.hmget(self._ledger.key(call_key(call_id)), "own", "exp")
            replies = await pipe.execute(raise_on_error=False)
        now_ms = time.time() * 1000  # the lease's expiry is on the server's clock: a guide
        running = []
        for (session_id, call_id), reply in zip(calls, replies, strict=True):
            if not isinstance(reply, list) or reply[0] is None:
                continue  # no key, or the result's string: not running
            owner, expires = reply
            try:
                live = float(expires or 0) > now_ms
            except ValueError:
                continue
            if live and owner:
                running.append((session_id, call_id, _text(owner)))
        return running


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
