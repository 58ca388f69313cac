"""Hostile records on the topics the session agents read: ``sessions``, ``results`` and the
journal (``session-events``). Each is dead-lettered or skipped and committed; the session agent
keeps running, and so do the sessions it holds."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from async_toolformer.schemas import (
    DeadLetter,
    DeadLetterReason,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    decode_as,
)

from .conftest import Stack

pytestmark = pytest.mark.connected


def _started(session_id: str, **fields: Any) -> bytes:
    body = {"type": "session_started", "session_id": session_id, "prompt": "hi", **fields}
    return json.dumps(body).encode()


@pytest_asyncio.fixture(loop_scope="session")
async def producer(stack: Stack) -> AsyncIterator[AIOKafkaProducer]:
    started = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap_servers,
                               max_request_size=8_000_000)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def _send(producer: AIOKafkaProducer, produced: dict[TopicPartition, int], topic: str,
                value: bytes, key: bytes | None) -> tuple[int, int]:
    sent = await producer.send_and_wait(topic, value, key=key)
    tp = TopicPartition(topic, sent.partition)
    produced[tp] = max(produced.get(tp, -1), sent.offset)
    return sent.partition, sent.offset


async def _letters(stack: Stack, wanted: set[tuple[int, int]]) -> dict[tuple[int, int],
                                                                      DeadLetter]:
    """The dead letters of the ``sessions`` records at ``wanted`` (partition, offset)."""
    consumer = AIOKafkaConsumer(stack.topics.dlq,
                                bootstrap_servers=stack.settings.kafka_bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    found: dict[tuple[int, int], DeadLetter] = {}
    try:
        async with asyncio.timeout(30):
            while set(found) != wanted:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        letter = decode_as(DeadLetter, record.value or b"")
                        where = (letter.source_partition, letter.source_offset)
                        if letter.source_topic == stack.topics.sessions and where in wanted:
                            found[where] = letter
    finally:
        await consumer.stop()
    return found


async def _all_committed(stack: Stack, produced: dict[TopicPartition, int]) -> None:
    reader = AIOKafkaConsumer(bootstrap_servers=stack.settings.kafka_bootstrap_servers,
                              group_id=stack.settings.group_id, enable_auto_commit=False)
    await reader.start()
    try:
        async with asyncio.timeout(30):
            while True:
                behind = [tp for tp, end in produced.items()
                          if (await reader.committed(tp) or 0) <= end]
                if not behind:
                    return
                await asyncio.sleep(0.1)
    finally:
        await reader.stop()


async def _run(stack: Stack, prompt: str) -> SessionEvent:
    events = [event async for event in stack.sessions.stream_session(
        prompt, tools=["sleep", "echo"], options={"model": "two_turns"}, timeout_s=60)]
    return events[-1]


async def test_bad_session_records_are_dead_lettered_and_open_sessions_carry_on(
        stack: Stack, producer: AIOKafkaProducer) -> None:
    tag = uuid.uuid4().hex[:8]
    open_session = asyncio.create_task(_run(stack, f"hostile open {tag}"))
    await asyncio.sleep(0.5)  # under way: its first turn's calls are running
    topics = stack.topics
    produced: dict[TopicPartition, int] = {}
    hostile: dict[str, tuple[bytes, bytes | None, str | None]] = {
        # 4. ids no refusal could be built from; they crashed the agent
        "257 characters": (_started("s" * 257), b"s" * 257, None),
        "blank": (_started("   "), b"   ", None),
        # 6. siblings
        "control characters": (_started(f"{tag}\x00ctl"), None, None),
        "non-UTF-8 key, not JSON": (b"\xff{", b"\xff\xfe", None),
        "10,000 messages": (_started(f"{tag}-many", messages=[
            {"role": "user", "content": "x"}] * 10_000), None, f"{tag}-many"),
        "max_tokens of 10^12": (_started(f"{tag}-tokens", options={"max_tokens": 10**12}),
                                None, f"{tag}-tokens"),
        "600 kB": (_started(f"{tag}-big", prompt="x" * 600_000), None, f"{tag}-big"),
    }
    where: dict[str, tuple[int, int]] = {}
    for name, (value, key, _) in hostile.items():
        where[name] = await _send(producer, produced, topics.sessions, value, key)
    # On results, keyed by a session that is open here: not results, skipped.
    for value in (b"\x00 not json", orjson.dumps({"type": "tool_call_completed",
                                                   "session_id": "s" * 300})):
        await _send(producer, produced, topics.results, value, b"session-x")

    letters = await _letters(stack, set(where.values()))
    for name, (value, _, _) in hostile.items():
        letter = letters[where[name]]
        assert letter.reason in {DeadLetterReason.INVALID_EVENT, DeadLetterReason.UNDECODABLE,
                                 DeadLetterReason.TOO_LARGE}, name
        assert letter.value_length == len(value)
    for name, (_, _, told) in hostile.items():
        if told is not None:  # a usable id: its session is told it failed
            async for event in stack.sessions.follow(told, timeout_s=30, from_beginning=True):
                assert isinstance(event, SessionFailed), name
                break

    assert isinstance(await asyncio.wait_for(open_session, 60), SessionCompleted)
    assert isinstance(await _run(stack, f"hostile after {tag}"), SessionCompleted)
    await _all_committed(stack, produced)
    assert all(not worker.task.done() for worker in stack.workers)


async def test_bad_journal_records_do_not_stop_a_worker_that_refolds_them(
        bare_stack: Stack) -> None:
    stack = bare_stack
    tag = uuid.uuid4().hex[:8]
    producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for partition in range(stack.settings.partitions):
            for value in (b"\xff not json", b"[" * 2000 + b"]" * 2000,
                          _started("s" * 257),
                          orjson.dumps({"type": "tool_call_proposed", "session_id": tag,
                                        "turn": 0, "index": 0, "llm_call_id": "x",
                                        "tool": "echo"})):
                await producer.send_and_wait(stack.topics.session_events, value,
                                             partition=partition)
    finally:
        await producer.stop()
    await stack.start_worker(f"{stack.settings.group_id}-w1")
    assert isinstance(await _run(stack, f"hostile journal {tag}"), SessionCompleted)
    assert all(not worker.task.done() for worker in stack.workers)
