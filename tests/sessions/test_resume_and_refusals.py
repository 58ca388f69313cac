"""A restarted worker carries a session on; bad requests go to the dead-letter topic."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from async_toolformer.schemas import (
    DeadLetter,
    DeadLetterReason,
    LLMTurnStarted,
    SessionCompleted,
    SessionEvent,
    SessionFailed,
    ToolResultReceived,
    decode_as,
)
from async_toolformer.streams.kafka.publisher import KafkaPublisher

from .conftest import Stack

pytestmark = pytest.mark.connected


@pytest.mark.slow
async def test_a_restarted_worker_resumes_the_session(bare_stack: Stack) -> None:
    stack = bare_stack
    first = await stack.start_worker(f"{stack.settings.group_id}-first")
    prompt = f"restart {uuid.uuid4().hex[:8]}"
    events: list[SessionEvent] = []
    async for event in stack.sessions.stream_session(prompt, tools=["sleep"],
                                                     options={"model": "restart"},
                                                     timeout_s=90):
        events.append(event)
        if isinstance(event, LLMTurnStarted) and event.turn == 1 and first in stack.workers:
            # the model is thinking about turn 1 (2.5 s): stop this worker, start another
            await first.shut_down()
            stack.workers.remove(first)
            await stack.start_worker(f"{stack.settings.group_id}-second")

    done = events[-1]
    assert isinstance(done, SessionCompleted)
    assert done.answer == "resumed and answered."
    starts = [(e.turn, e.attempt) for e in events if isinstance(e, LLMTurnStarted)]
    assert starts == [(0, 1), (1, 1), (1, 2)]
    results = [e.result.call_id for e in events if isinstance(e, ToolResultReceived)]
    assert sorted(results) == sorted(set(results))
    assert len(results) == 2
    turn_1 = [r for r in stack.server.requests
              if r.body["messages"][0]["content"] == prompt and r.turn_index == 1]
    assert len(turn_1) == 2  # asked again by the second worker


async def test_bad_session_requests_are_dead_lettered(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:8]
    bad: dict[str, bytes] = {
        f"{tag}-junk": b"{not json",
        f"{tag}-empty": orjson.dumps({"type": "session_started", "session_id": f"{tag}-empty"}),
        f"{tag}-tool": orjson.dumps({"type": "session_started", "session_id": f"{tag}-tool",
                                     "prompt": "hi", "tools": ["no_such_tool"]}),
        f"{tag}-scorer": orjson.dumps({
            "type": "session_started", "session_id": f"{tag}-scorer", "prompt": "hi",
            "tools": ["sleep"], "options": {"race": [{"tools": ["sleep"], "scorer": "nope"}]}}),
        f"{tag}-turns": orjson.dumps({"type": "session_started", "session_id": f"{tag}-turns",
                                      "prompt": "hi", "options": {"max_turns": 0}}),
    }
    assert stack.settings.kafka_bootstrap_servers is not None
    bootstrap = stack.settings.kafka_bootstrap_servers
    async with KafkaPublisher(bootstrap) as publisher:
        for key, value in bad.items():
            await publisher.publish(stack.topics.sessions, key.encode(), value)

    letters = await _dead_letters(bootstrap, stack.topics.dlq, tag, len(bad))
    reasons = {letter.key.decode(): letter.reason for letter in letters if letter.key}
    assert reasons == {
        f"{tag}-junk": DeadLetterReason.UNDECODABLE,
        f"{tag}-empty": DeadLetterReason.INVALID_EVENT,
        f"{tag}-tool": DeadLetterReason.UNKNOWN_TOOL,
        f"{tag}-scorer": DeadLetterReason.INVALID_EVENT,
        f"{tag}-turns": DeadLetterReason.INVALID_EVENT,
    }
    assert all(letter.value == bad[letter.key.decode()] for letter in letters if letter.key)
    failed = {key: await _failure(stack, key) for key in bad}
    assert all(f.reason == "invalid_request" for f in failed.values())
    assert "no_such_tool" in failed[f"{tag}-tool"].error
    assert "nope" in failed[f"{tag}-scorer"].error


async def _failure(stack: Stack, session_id: str) -> SessionFailed:
    async for event in stack.sessions.follow(session_id, timeout_s=30, from_beginning=True):
        if isinstance(event, SessionFailed):
            return event
    raise AssertionError(f"no SessionFailed for {session_id}")


async def _dead_letters(bootstrap: str, topic: str, tag: str, count: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        async with asyncio.timeout(30):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for records in batches.values():
                    for record in records:
                        letter = decode_as(DeadLetter, record.value or b"")
                        if letter.key and letter.key.decode().startswith(tag):
                            found.append(letter)
    finally:
        await consumer.stop()
    return found
