"""Tools for the chaos test: each execution is written down before the tool sleeps.

Loaded by worker processes through ``TOOLFORMER_TOOLS``; they name themselves
through ``TOOLFORMER_WORKER_ID``, so the test can tell, per call_id, which
worker incarnations ran it. Executions go to the file ``CHAOS_EXECUTIONS_FILE``
when it is set (one ``key<TAB>worker`` line each, appended in one write, so
lines of several processes never mix): outside Redis, so a test that takes the
ledger's Redis away cannot lose them. Otherwise to the Redis of ``REDIS_URL``.
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


def read_executions(path: str) -> dict[str, list[str]]:
    """Key -> the workers that ran it, in order, from a ``CHAOS_EXECUTIONS_FILE``."""
    runs: dict[str, list[str]] = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                key, _, worker = line.rstrip("\n").partition("\t")
                runs.setdefault(key, []).append(worker)
    return runs


def _append(path: str, key: str) -> None:
    line = f"{key}\t{os.environ.get('TOOLFORMER_WORKER_ID', '?')}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


async def _record(run: str, key: str) -> None:
    if path := os.environ.get("CHAOS_EXECUTIONS_FILE"):
        _append(path, key)
        return
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
