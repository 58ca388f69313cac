"""Tools for the chaos test: each execution is written to Redis before the tool sleeps.

Loaded by worker processes through ``TOOLFORMER_TOOLS``; they find Redis through
``REDIS_URL`` and name themselves through ``TOOLFORMER_WORKER_ID``, so the test
can tell, per call_id, which worker incarnations ran it.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from async_toolformer.agents.tools import tool

_clients: dict[str, Redis] = {}


def executions_key(run: str, key: str) -> str:
    return f"{run}:executions:{key}"


async def _record(run: str, key: str) -> None:
    url = os.environ["REDIS_URL"]
    client = _clients.get(url)
    if client is None:
        # redis-py 8 pools hold at most 100 connections and fail the 101st command at
        # once (MaxConnectionsError); a burst of calls after a rebalance exceeds that, so
        # queue for a connection instead.
        pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=30)
        client = _clients[url] = Redis(connection_pool=pool)
    await client.rpush(executions_key(run, key), os.environ.get("TOOLFORMER_WORKER_ID", "?"))


@tool(idempotent=False)
async def chaos_once(run: str, key: str, ms: int) -> dict[str, Any]:
    """A side effect that must not happen twice (a payment): recorded, then slow."""
    await _record(run, key)
    await asyncio.sleep(ms / 1000)
    return {"key": key, "ms": ms}


@tool(idempotent=True)
async def chaos_retry(run: str, key: str, ms: int) -> dict[str, Any]:
    """The same, declared idempotent: a takeover may run it again."""
    await _record(run, key)
    await asyncio.sleep(ms / 1000)
    return {"key": key, "ms": ms}
