"""Partition followers on the real broker: a consumer per partition, each waiter its records."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer

from async_toolformer.schemas import SchemaError
from async_toolformer.streams.client.follower import TopicFollowers
from async_toolformer.streams.client.partitioning import partition_for
from async_toolformer.streams.client.reader import reading_consumer
from async_toolformer.streams.kafka.publisher import KafkaPublisher
from tests.conftest import TopicFactory

pytestmark = pytest.mark.connected


class CountingConsumers:
    """The client's consumer factory, counting what it makes."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.made = 0

    def __call__(self) -> AIOKafkaConsumer:
        self.made += 1
        return reading_consumer(self.bootstrap)


def decode(raw: bytes) -> str:
    if raw == b"garbage":
        raise SchemaError("not a record of ours")
    return raw.decode()


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling what the handlers collected
            await asyncio.sleep(0.01)


async def test_many_waiters_share_one_consumer_per_partition_and_get_only_their_records(
        kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = await topic_factory(3)
    consumers = CountingConsumers(kafka_bootstrap)
    followers: TopicFollowers[str] = TopicFollowers(topic, decode, consumers)
    keys = [f"session-{i}" for i in range(60)]
    got: dict[str, list[str]] = {key: [] for key in keys}
    try:
        waiters = [(key, await followers.follower(partition_for(key, 3)).subscribe(
            key.encode(), got[key].append)) for key in keys]
        assert consumers.made == 3
        # Interleaved, in batches (the broker's end offset lags after those), with
        # records nobody waits for and one that does not decode.
        records: list[tuple[bytes | None, bytes]] = [
            (key.encode(), f"{key}/{n}".encode()) for n in range(5) for key in keys]
        records += [(b"nobody", b"x"), (keys[0].encode(), b"garbage"), (None, b"marker")]
        records += [(key.encode(), f"{key}/{n}".encode()) for n in range(5, 8) for key in keys]
        async with KafkaPublisher(kafka_bootstrap) as publisher:
            assert await publisher.publish_many(topic, records) == []

        await until(lambda: all(len(got[key]) == 8 for key in keys))
        assert all(got[key] == [f"{key}/{n}" for n in range(8)] for key in keys)

        # More sessions on the running followers: no consumer of their own.
        more = [await followers.follower(partition_for(key, 3)).subscribe(
            key.encode(), got[key].append) for key in keys[:10]]
        assert consumers.made == 3
        for key, waiter in waiters:
            followers.follower(partition_for(key, 3)).unsubscribe(waiter)
        for key, waiter in zip(keys, more, strict=False):
            followers.follower(partition_for(key, 3)).unsubscribe(waiter)
    finally:
        await followers.close()


async def test_a_late_waiter_gets_its_history_then_live_records_once_each_in_order(
        kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = await topic_factory(1)
    consumers = CountingConsumers(kafka_bootstrap)
    followers: TopicFollowers[str] = TopicFollowers(topic, decode, consumers)
    follower = followers.follower(0)
    early: list[str] = []
    late: list[str] = []
    try:
        async with KafkaPublisher(kafka_bootstrap) as publisher:
            await follower.subscribe(b"early", early.append)  # keeps the follower running
            await publisher.publish_many(topic, [(b"late", f"late/{n}".encode())
                                                 for n in range(5)] + [(b"early", b"past")])
            await until(lambda: early == ["past"])  # the follower is past late/0..4

            await follower.subscribe(b"late", late.append, from_beginning=True)
            for n in range(5, 10):  # while the history is read
                await publisher.publish(topic, b"late", f"late/{n}".encode())
            await until(lambda: len(late) >= 10)

        assert late == [f"late/{n}" for n in range(10)]
        assert consumers.made == 2  # the follower, and one read of the history
    finally:
        await followers.close()


async def test_an_idle_follower_stops_and_starts_again_for_the_next_waiter(
        kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = await topic_factory(1)
    consumers = CountingConsumers(kafka_bootstrap)
    followers: TopicFollowers[str] = TopicFollowers(topic, decode, consumers, idle_s=0.2)
    follower = followers.follower(0)
    got: list[str] = []
    try:
        async with KafkaPublisher(kafka_bootstrap) as publisher:
            follower.unsubscribe(await follower.subscribe(b"k", got.append))
            await until(lambda: not follower.running)

            waiter = await follower.subscribe(b"k", got.append)
            assert follower.running
            await publisher.publish(topic, b"k", b"again")
            await until(lambda: got == ["again"])
            follower.unsubscribe(waiter)
        assert consumers.made == 2
    finally:
        await followers.close()
