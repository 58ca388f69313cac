"""Many sessions and call batches at once through one client: one consumer per partition.

Each session must get exactly its own journal events, in the journal's order,
and a history read on a running follower must give them again.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from async_toolformer.schemas import (
    CallStatus,
    SessionCompleted,
    SessionEvent,
    ToolCallRequested,
    decode_session_event,
)
from async_toolformer.streams.client import SessionClient, ToolformerClient, partition_for
from async_toolformer.streams.client.reader import reading_consumer

from .conftest import Stack

pytestmark = pytest.mark.connected

PARTITIONS = 4


class CountingConsumers:
    """The client's consumer factory, counting what it makes."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.made = 0

    def __call__(self) -> AIOKafkaConsumer:
        self.made += 1
        return reading_consumer(self.bootstrap)


def _bootstrap(stack: Stack) -> str:
    bootstrap = stack.settings.kafka_bootstrap_servers
    assert bootstrap is not None
    return bootstrap


async def _journal(stack: Stack, sessions: list[str]) -> dict[str, list[SessionEvent]]:
    """Each session's events as the journal holds them, up to its SessionCompleted."""
    consumer = AIOKafkaConsumer(bootstrap_servers=_bootstrap(stack), enable_auto_commit=False)
    await consumer.start()
    journal: dict[str, list[SessionEvent]] = {session: [] for session in sessions}
    try:
        tps = [TopicPartition(stack.topics.session_events, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(30):
            while not all(events and isinstance(events[-1], SessionCompleted)
                          for events in journal.values()):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        session = (record.key or b"").decode()
                        events = journal.get(session)
                        if events is not None and not (
                                events and isinstance(events[-1], SessionCompleted)):
                            events.append(decode_session_event(record.value or b""))
    finally:
        await consumer.stop()
    return journal


async def test_sessions_at_once_share_one_consumer_per_partition(stack: Stack) -> None:
    consumers = CountingConsumers(_bootstrap(stack))
    sessions = [f"many-{uuid.uuid4().hex[:8]}-{i}" for i in range(24)]

    async def run(client: SessionClient, session: str) -> list[SessionEvent]:
        return [event async for event in client.stream_session(
            f"two turns ({session})", tools=["sleep", "echo"], session_id=session,
            options={"model": "two_turns"}, timeout_s=60)]

    async with SessionClient(_bootstrap(stack), topic_prefix=stack.settings.topic_prefix,
                             consumer_factory=consumers) as client:
        streamed = await asyncio.gather(*(run(client, session) for session in sessions))
        partitions = {partition_for(session, PARTITIONS) for session in sessions}
        assert consumers.made == len(partitions)  # not one per session

        journal = await _journal(stack, sessions)
        for session, events in zip(sessions, streamed, strict=True):
            assert isinstance(events[-1], SessionCompleted)
            assert events == journal[session]  # its own events, all, in order, once

        # A late waiter on a running follower: the history, then nothing twice.
        late = sessions[0]
        again = [event async for event in client.follow(late, timeout_s=30,
                                                        from_beginning=True)]
        assert again == journal[late]
        assert consumers.made == len(partitions) + 1  # the one history read


async def test_call_batches_at_once_share_one_consumer_per_partition(stack: Stack) -> None:
    consumers = CountingConsumers(_bootstrap(stack))
    sessions = [f"batch-{uuid.uuid4().hex[:8]}-{i}" for i in range(30)]

    def calls(session: str) -> list[ToolCallRequested]:
        return [ToolCallRequested(call_id=f"{session}-c{n}", session_id=session, tool="echo",
                                  arguments={"session": session, "n": n}) for n in range(3)]

    async with ToolformerClient(_bootstrap(stack), topic_prefix=stack.settings.topic_prefix,
                                consumer_factory=consumers) as client:
        results = await asyncio.gather(*(client.run(calls(s), timeout_s=60) for s in sessions))
        partitions = {partition_for(session, PARTITIONS) for session in sessions}
        assert consumers.made == len(partitions)

        for session, batch in zip(sessions, results, strict=True):
            assert [r.call_id for r in batch] == [c.call_id for c in calls(session)]
            assert all(r.status is CallStatus.OK and r.session_id == session for r in batch)
            assert [r.output for r in batch] == [{"session": session, "n": n} for n in range(3)]

        followed = [r.call_id async for r in client.follow(sessions[-1], follow=False)]
        assert sorted(followed) == [c.call_id for c in calls(sessions[-1])]
