"""Each kind of bad input: a dead letter with the reason, a rejected result when the call
can be named, and the worker goes on serving the next good call."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from async_toolformer.schemas import (
    CallStatus,
    DeadLetter,
    DeadLetterReason,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
    decode_as,
    encode,
)

from .conftest import Pipeline, PipelineFactory

pytestmark = pytest.mark.connected

SESSION = "bad-input"


def _request(call_id: str, **fields: object) -> bytes:
    body: dict[str, object] = {"type": "tool_call_requested", "call_id": call_id,
                               "session_id": SESSION, "tool": "echo", "arguments": {}}
    body.update(fields)
    return orjson.dumps(body)


CASES: list[tuple[str, bytes, DeadLetterReason, str | None]] = [
    ("not json", b"\xff\x00 not json", DeadLetterReason.UNDECODABLE, None),
    ("schema", _request("bad-schema", arguments=[1, 2]), DeadLetterReason.INVALID_EVENT,
     "bad-schema"),
    ("unknown field", _request("bad-field", argumnets={}), DeadLetterReason.INVALID_EVENT,
     "bad-field"),
    ("unknown tool", _request("bad-tool", tool="no_such_tool"), DeadLetterReason.UNKNOWN_TOOL,
     "bad-tool"),
    ("arguments", _request("bad-args", tool="sleep", arguments={"ms": "soon"}),
     DeadLetterReason.INVALID_ARGUMENTS, "bad-args"),
    ("too large", _request("bad-size", arguments={"blob": "x" * 3000}),
     DeadLetterReason.TOO_LARGE, "bad-size"),
]


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def case(request: pytest.FixtureRequest) -> tuple[str, bytes, DeadLetterReason, str | None]:
    value: tuple[str, bytes, DeadLetterReason, str | None] = request.param
    return value


async def test_bad_record_is_dead_lettered_and_the_next_call_runs(
        pipeline_factory: PipelineFactory,
        case: tuple[str, bytes, DeadLetterReason, str | None]) -> None:
    _, raw, reason, call_id = case
    pipe = await pipeline_factory(max_payload_bytes=2048)
    offset = await _produce(pipe, pipe.topics.calls, raw)

    letter = await _dead_letter_for(pipe, offset)
    assert letter.reason is reason
    assert letter.value == raw  # the original bytes, unchanged
    assert letter.source_topic == pipe.topics.calls
    assert letter.call_id == call_id
    assert letter.error

    if call_id is not None:
        rejected = await _result_for(pipe, call_id)
        assert rejected.status is CallStatus.REJECTED
        assert rejected.error is not None
        assert rejected.error.type == reason.value

    [good] = await pipe.client.run([ToolCallRequested(
        call_id=f"good-after-{reason.value}", session_id=SESSION, tool="echo",
        arguments={"still": "serving"})], timeout_s=30)
    assert good.status is CallStatus.OK


async def test_bad_cancellation_is_dead_lettered(pipeline: Pipeline) -> None:
    wrong_type = encode(ToolCallRequested(call_id="c", session_id=SESSION, tool="echo"))
    for raw in (b"{not json", wrong_type):
        offset = await _produce(pipeline, pipeline.topics.cancellations, raw)
        letter = await _dead_letter_for(pipeline, offset, source=pipeline.topics.cancellations)
        assert letter.reason is DeadLetterReason.INVALID_EVENT
        assert letter.value == raw
    good = encode(SessionCancelled(session_id="other", reason="ok"))
    await _produce(pipeline, pipeline.topics.cancellations, good)
    [result] = await pipeline.client.run([ToolCallRequested(
        call_id="after-bad-cancel", session_id=SESSION, tool="echo")], timeout_s=30)
    assert result.status is CallStatus.OK


async def _produce(pipe: Pipeline, topic: str, raw: bytes) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=pipe.settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        metadata = await producer.send_and_wait(topic, raw, key=SESSION.encode())
    finally:
        await producer.stop()
    offset: int = metadata.offset
    return offset


async def _dead_letter_for(pipe: Pipeline, offset: int, *, source: str | None = None
                           ) -> DeadLetter:
    source = source or pipe.topics.calls
    consumer = AIOKafkaConsumer(pipe.topics.dlq,
                                bootstrap_servers=pipe.settings.kafka_bootstrap_servers,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50)
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            async for record in consumer:
                letter = decode_as(DeadLetter, record.value or b"")
                if letter.source_topic == source and letter.source_offset == offset:
                    return letter
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")


async def _result_for(pipe: Pipeline, call_id: str) -> ToolCallCompleted:
    async with asyncio.timeout(30):
        async for result in pipe.client.follow(SESSION):
            if result.call_id == call_id:
                return result
    raise AssertionError(f"no result for {call_id}")
