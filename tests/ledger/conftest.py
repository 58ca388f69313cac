"""Ledgers on the session's Redis, each in a namespace of its own, cleaned up after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.streams.redis.ledger import ExecutionLedger

LedgerFactory = Callable[..., ExecutionLedger]


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def ledger_redis(redis_url: str) -> AsyncIterator[Redis]:
    """One client for the ledger tests (bytes in, bytes out)."""
    client = Redis.from_url(redis_url, decode_responses=False)
    try:
        yield client
    finally:
        await client.aclose()


def fresh_namespace() -> str:
    """A namespace no other test or run uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


async def drop_namespace(redis: Redis, ledger: ExecutionLedger) -> None:
    """Delete every key the ledger wrote."""
    keys = [key async for key in redis.scan_iter(match=ledger.key("*"), count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest_asyncio.fixture(loop_scope="session")
async def make_ledger(ledger_redis: Redis) -> AsyncIterator[LedgerFactory]:
    """``make_ledger(lease_ms=..., ...)``: a ledger in a fresh namespace."""
    made: list[ExecutionLedger] = []

    def make(**options: Any) -> ExecutionLedger:
        options.setdefault("namespace", fresh_namespace())
        ledger = ExecutionLedger(ledger_redis, **options)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            await drop_namespace(ledger_redis, ledger)
