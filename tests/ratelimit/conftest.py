"""Limits on the session's Redis, each test in a namespace of its own, cleaned up after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest_asyncio
from redis.asyncio import Redis


def fresh_namespace() -> str:
    """A namespace (hash tag) no other test or run uses."""
    return f"test-rl-{uuid.uuid4().hex[:12]}"


async def drop_namespace(redis: Redis, namespace: str) -> None:
    keys = [key async for key in redis.scan_iter(match=f"{{{namespace}}}:*", count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def limits_redis(redis_url: str) -> AsyncIterator[Redis]:
    """One client for the rate-limit tests."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(limits_redis: Redis) -> AsyncIterator[str]:
    """A fresh namespace, its keys deleted after the test."""
    name = fresh_namespace()
    try:
        yield name
    finally:
        await drop_namespace(limits_redis, name)
