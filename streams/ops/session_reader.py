"""Reading one session's events back: its calls, results and speculative runs, from its
partition only."""

from __future__ import annotations

import contextlib
from typing import TypeVar

from aiokafka import AIOKafkaConsumer

from async_toolformer.schemas import (
    SchemaError,
    SpeculativeCallRan,
    ToolCallCompleted,
    ToolCallRequested,
    decode_as,
)
from async_toolformer.streams.client import partition_for
from async_toolformer.streams.kafka.security import PLAINTEXT, KafkaSecurity
from async_toolformer.streams.kafka.topics import TopicCatalogue
from async_toolformer.streams.ops.log_reader import read_range, topic_partitions
from async_toolformer.streams.ops.selection import RecordRange
from async_toolformer.streams.ops.timeline import SessionTimeline, build_timeline

E = TypeVar("E", ToolCallRequested, ToolCallCompleted, SpeculativeCallRan)


async def read_session(bootstrap_servers: str, topics: TopicCatalogue, session_id: str, *,
                       idle_s: float = 1.0,
                       security: KafkaSecurity = PLAINTEXT) -> SessionTimeline:
    """The session's timeline, rebuilt from ``calls`` and ``results`` (and the speculative
    runs its journal on ``session-events`` names).

    Both topics are keyed by session_id with Kafka's default partitioner, so the
    session lives on one partition of each (:func:`partition_for`); the rest of
    the topics is not read.
    """
    calls = await _events(bootstrap_servers, topics.calls, session_id, ToolCallRequested,
                          idle_s, security=security)
    results = await _events(bootstrap_servers, topics.results, session_id, ToolCallCompleted,
                            idle_s, security=security)
    speculative = await _events(bootstrap_servers, topics.session_events, session_id,
                                SpeculativeCallRan, idle_s, security=security)
    return build_timeline(session_id, calls, results, speculative)


async def _events(bootstrap: str, topic: str, session_id: str, model: type[E],
                  idle_s: float, *, security: KafkaSecurity) -> list[E]:
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, **security.client_options())
    await probe.start()
    try:
        count = len(await topic_partitions(probe, topic))
    finally:
        await probe.stop()
    key = session_id.encode()
    selection = RecordRange(partitions=(partition_for(session_id, count),))
    found: list[E] = []
    records = read_range(bootstrap, topic, selection, idle_s=idle_s, security=security)
    async with contextlib.aclosing(records):
        async for batch in records:
            for record in batch:
                if record.key != key:
                    continue
                with contextlib.suppress(SchemaError):
                    found.append(decode_as(model, record.value))
    return found
