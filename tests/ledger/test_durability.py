"""The start-up check of whether Redis keeps the ledger, against real redis-servers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import Redis

from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)
from async_toolformer.streams.redis.durability import (
    durability_warnings,
    warn_if_ledger_fragile,
)
from async_toolformer.streams.redis.parts import open_redis_parts
from async_toolformer.streams.worker.settings import Settings

pytestmark = pytest.mark.connected


@pytest_asyncio.fixture(loop_scope="session")
async def server(redis_process_factory: RedisProcessFactory) -> RedisServerProcess:
    """A redis-server of the test's own (no persistence, noeviction), to reconfigure."""
    return await redis_process_factory()


@pytest_asyncio.fixture(loop_scope="session")
async def client(server: RedisServerProcess) -> AsyncIterator[Redis]:
    redis = Redis.from_url(server.url, socket_timeout=2)
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_a_redis_without_persistence_is_named(client: Redis) -> None:
    [warning] = await durability_warnings(client)
    assert "no persistence" in warning
    assert "appendonly yes" in warning


async def test_snapshots_only_and_an_evicting_policy_are_named(client: Redis) -> None:
    await client.config_set("save", "3600 1")
    await client.config_set("maxmemory-policy", "volatile-lru")
    snapshots, eviction = await durability_warnings(client)
    assert "snapshots only" in snapshots
    assert "volatile-lru" in eviction


async def test_a_disabled_config_command_is_a_note_not_a_failure(
        client: Redis, server: RedisServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    await client.acl_setuser("managed", enabled=True, passwords=["+secret"], keys=["*"],
                             commands=["+@all", "-config"])
    limited = Redis.from_url(server.url.replace("redis://", "redis://managed:secret@"))
    try:
        with caplog.at_level(logging.WARNING):
            [note] = await warn_if_ledger_fragile(limited)
    finally:
        await limited.aclose()
    assert "CONFIG may be disabled" in note
    assert note in caplog.text


async def test_an_unreachable_redis_is_a_note_not_a_failure(
        server: RedisServerProcess) -> None:
    await server.stop()
    down = Redis.from_url(server.url, socket_connect_timeout=0.5)
    try:
        [note] = await warn_if_ledger_fragile(down)
    finally:
        await down.aclose()
    assert "could not check" in note


async def test_the_worker_warns_when_it_opens_its_ledger(
        server: RedisServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(redis_url=server.url, metrics_port=None)
    with caplog.at_level(logging.WARNING, logger="async_toolformer.streams.redis.durability"):
        parts = await open_redis_parts(settings, server.url)
    try:
        assert "Redis has no persistence" in caplog.text
        assert parts.redis is not None
        kwargs = parts.redis.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == settings.redis_socket_timeout_s
        assert kwargs["socket_connect_timeout"] == settings.redis_connect_timeout_s
    finally:
        await parts.close()
