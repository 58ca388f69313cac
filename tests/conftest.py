"""Services for the whole suite: Kafka and Redis, started once per session.

Where they come from, first match wins:
1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` from the environment;
2. testcontainers, if a Docker engine answers;
3. the embedded broker and a throwaway redis-server on free loopback ports
   (never the machine's shared Redis, so tests are isolated).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from async_toolformer.streams.devtools.stack.broker import EmbeddedBroker
from async_toolformer.streams.devtools.stack.containers import (
    docker_available,
    start_kafka_container,
    start_redis_container,
)
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)

_SERVICE_FIXTURES = frozenset({"kafka_bootstrap", "redis_url", "redis_process_factory"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a broker or Redis is ``connected``, marked or not, so
    ``make test-fast`` (``-m "not connected"``) never starts a service."""
    for item in items:
        if _SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.connected)


@pytest.fixture(scope="session")
def use_docker() -> bool:
    """Whether services without an env override come from testcontainers."""
    return docker_available()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Bootstrap servers of a Kafka-compatible broker shared by the session."""
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield env
    elif request.getfixturevalue("use_docker"):
        container = await start_kafka_container()
        try:
            yield container.address
        finally:
            await container.stop()
    else:
        async with EmbeddedBroker() as broker:
            yield broker.bootstrap_servers


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """URL of a Redis shared by the session; tests still isolate keys by prefix."""
    if env := os.environ.get("REDIS_URL"):
        yield env
    elif request.getfixturevalue("use_docker"):
        container = await start_redis_container()
        try:
            yield container.address
        finally:
            await container.stop()
    else:
        async with RedisServerProcess() as server:
            yield server.url


@pytest_asyncio.fixture(loop_scope="session")
async def redis_process_factory() -> AsyncIterator[RedisProcessFactory]:
    """Start extra redis-servers a test may kill on purpose; all stopped at teardown.

        server = await redis_process_factory()      # free port
        await server.stop(); await server.start()    # same URL again
    """
    started: list[RedisServerProcess] = []

    async def start(port: int | None = None) -> RedisServerProcess:
        server = RedisServerProcess(port)
        started.append(server)
        await server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            await server.stop()


@pytest.fixture
def unique_prefix() -> str:
    """A fresh prefix for Redis keys, topics and group ids, so runs never collide."""
    return f"t{uuid.uuid4().hex[:10]}."


TopicFactory = Callable[[int], Awaitable[str]]


@pytest.fixture
def topic_factory(kafka_bootstrap: str, unique_prefix: str) -> TopicFactory:
    """``await topic_factory(partitions)``: a new topic of the test's own, by name."""
    made = 0

    async def make(partitions: int) -> str:
        nonlocal made
        made += 1
        topic = f"{unique_prefix}topic{made}"
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()
        return topic

    return make
