"""Hostile records on the topics a worker consumes (``calls``, ``cancellations``).

Each case sends one bad record and then checks the three things that must hold
whatever it was: the calls sent after it, on its key and on others, are all
answered; the group's committed offsets reach past every record produced (and
every result read); the worker is still running. Records are produced one at a
time and their offsets kept, since the embedded broker's end offsets can lag
after batch writes (docs/broker.md). One worker serves the whole module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

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
from async_toolformer.streams.redis.ledger.keys import call_key
from async_toolformer.streams.worker.settings import Settings

from .conftest import TEST_TOOLS, Pipeline, start_pipeline

pytestmark = pytest.mark.connected

TOOLS = [TEST_TOOLS, "tests.pipeline.hostile_tools"]


@dataclass
class Probe:
    """The module's worker seen from outside: what was produced, answered and dead-lettered."""

    pipe: Pipeline
    producer: AIOKafkaProducer
    zipped: AIOKafkaProducer
    committed: AIOKafkaConsumer
    produced: dict[TopicPartition, int] = field(default_factory=dict)
    results: dict[str, ToolCallCompleted] = field(default_factory=dict)
    result_ends: dict[TopicPartition, int] = field(default_factory=dict)
    letters: dict[tuple[str, int, int], DeadLetter] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # a result or a letter

    async def send(self, topic: str, value: bytes, key: bytes | None, *,
                   headers: list[tuple[str, bytes]] | None = None,
                   compressed: bool = False) -> tuple[int, int]:
        """Produce one record; return its partition and offset."""
        producer = self.zipped if compressed else self.producer
        sent = await producer.send_and_wait(topic, value, key=key, headers=headers)
        tp = TopicPartition(topic, sent.partition)
        self.produced[tp] = max(self.produced.get(tp, -1), sent.offset)
        return sent.partition, sent.offset

    async def call(self, call_id: str, session: str, tool: str = "echo", *,
                   key: bytes | None = None, **arguments: Any) -> tuple[int, int]:
        request = ToolCallRequested(call_id=call_id, session_id=session, tool=tool,
                                    arguments=arguments)
        return await self.send(self.pipe.topics.calls, encode(request),
                               session.encode() if key is None else key)

    async def result(self, call_id: str) -> ToolCallCompleted:
        async with asyncio.timeout(30):
            while call_id not in self.results:
                self.arrived.clear()
                await self.arrived.wait()
        return self.results[call_id]

    async def letter(self, topic: str, where: tuple[int, int]) -> DeadLetter:
        """The dead letter of the record at ``where`` (partition, offset) of ``topic``."""
        async with asyncio.timeout(30):
            while (topic, *where) not in self.letters:
                self.arrived.clear()
                await self.arrived.wait()
        return self.letters[(topic, *where)]

    async def still_serving(self, tag: str, key: bytes) -> None:
        """Calls on the bad record's key and on others are answered, everything is committed,
        and the worker runs."""
        good: list[tuple[str, str, bytes | None]] = [
            (f"{tag}-same-{i}", f"{tag}-same", key) for i in range(2)]
        good += [(f"{tag}-other-{i}", f"{tag}-other-{i}", None) for i in range(2)]
        for call_id, session, record_key in good:
            await self.call(call_id, session, key=record_key, n=call_id)
        for call_id, _, _ in good:
            answered = await self.result(call_id)
            assert answered.status is CallStatus.OK, answered.error
        await self.all_committed()
        assert not self.pipe.task.done(), "the worker stopped"

    async def all_committed(self) -> None:
        """Wait until the group has committed past every record produced and result read."""
        targets = {**self.result_ends, **self.produced}
        async with asyncio.timeout(30):
            while True:
                behind = {tp: end for tp, end in targets.items()
                          if (await self.committed.committed(tp) or 0) <= end}
                if not behind:
                    return
                await asyncio.sleep(0.1)


async def _read(bootstrap: str, topic: str, into: Any) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=20,
                                max_partition_fetch_bytes=8_000_000,
                                fetch_max_bytes=16_000_000)
    await consumer.start()
    try:
        async for record in consumer:
            into(record)
    finally:
        await consumer.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def probe(kafka_bootstrap: str, redis_url: str) -> AsyncIterator[Probe]:
    name = f"h{uuid.uuid4().hex[:10]}"
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=f"{name}.",
        group_id=f"{name}-workers", worker_id=f"{name}-w1", partitions=4, metrics_port=None,
        tools=TOOLS, redis_url=redis_url, ledger_namespace=name, gc_tuning=False)
    started: list[Pipeline] = []
    pipe = await start_pipeline(settings, started)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=16_000_000)
    zipped = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=16_000_000,
                              compression_type="gzip")
    committed = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=settings.group_id,
                                 enable_auto_commit=False)
    for client in (producer, zipped, committed):
        await client.start()
    found = Probe(pipe, producer, zipped, committed)

    def on_result(record: Any) -> None:
        result = decode_as(ToolCallCompleted, record.value)
        found.results.setdefault(result.call_id, result)
        tp = TopicPartition(record.topic, record.partition)
        found.result_ends[tp] = max(found.result_ends.get(tp, -1), record.offset)
        found.arrived.set()

    def on_letter(record: Any) -> None:
        letter = decode_as(DeadLetter, record.value)
        found.letters[(letter.source_topic, letter.source_partition,
                       letter.source_offset)] = letter
        found.arrived.set()

    readers = [asyncio.create_task(_read(kafka_bootstrap, pipe.topics.results, on_result)),
               asyncio.create_task(_read(kafka_bootstrap, pipe.topics.dlq, on_letter))]
    try:
        yield found
    finally:
        for reader in readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for client in (producer, zipped, committed):
            await client.stop()
        pipe.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(pipe.task, 30)
        await pipe.client.close()


def _nest(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"down": value}
    return value


def _call(call_id: str, session: str = "hostile", **fields: Any) -> bytes:
    body: dict[str, Any] = {"type": "tool_call_requested", "call_id": call_id,
                            "session_id": session, "tool": "echo", "arguments": {}}
    body.update(fields)
    return json.dumps(body).encode()  # orjson refuses to write more than 254 levels


def _call_id_of(raw: bytes) -> str | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    call_id = body.get("call_id") if isinstance(body, dict) else None
    return call_id if isinstance(call_id, str) else None


@dataclass(frozen=True)
class Refused:
    """A ``calls`` record that must be dead-lettered, and answered ``rejected`` if it names
    a usable call (``answered``)."""

    value: bytes
    reason: DeadLetterReason
    answered: bool
    key: bytes = b"hostile"
    compressed: bool = False
    named: str | None = None  # the call_id its letter names, when it is not answered


BIG = b"x" * 900_000  # base64 in a dead letter made it 1.2 MB: over the producer's limit

REFUSED = {
    # 1. arguments nested past what the serialisers can write
    "deep arguments": Refused(_call("deep-args", arguments=_nest(255)),
                              DeadLetterReason.INVALID_ARGUMENTS, answered=True),
    # 2. dead letters too large for the topic, as they were written whole
    "refused record of 900 kB": Refused(_call("big-refused", tool="no_such_tool",
                                              arguments={"blob": BIG.decode()}),
                                        DeadLetterReason.UNKNOWN_TOOL, answered=True),
    "too large, compressed": Refused(_call("big-zipped", arguments={"blob": "0" * 3_000_000}),
                                     DeadLetterReason.TOO_LARGE, answered=True, compressed=True),
    # 3. identifiers no refusal can be built from
    "call_id of 300 characters": Refused(_call("c" * 300, argumnets={}),
                                         DeadLetterReason.INVALID_EVENT, answered=False),
    "blank key, no session": Refused(orjson.dumps({"call_id": "blank-key", "tool": "echo"}),
                                     DeadLetterReason.INVALID_EVENT, answered=False, key=b"   ",
                                     named="blank-key"),
    # 6. siblings
    "control characters in call_id": Refused(_call("ctl\x00\x1b[31m"),
                                             DeadLetterReason.INVALID_EVENT, answered=False),
    "non-UTF-8 key, not JSON": Refused(b"\xff\xfe not json", DeadLetterReason.UNDECODABLE,
                                       answered=False, key=b"\xff\xfe\xfd"),
    "key of 200 kB, not JSON": Refused(b"{not json", DeadLetterReason.UNDECODABLE,
                                       answered=False, key=b"k" * 200_000),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
async def test_a_refused_call_record_is_dead_lettered_within_bounds(probe: Probe,
                                                                    case: str) -> None:
    refused = REFUSED[case]
    tag = uuid.uuid4().hex[:8]
    topic = probe.pipe.topics.calls
    where = await probe.send(topic, refused.value, refused.key, compressed=refused.compressed)

    letter = await probe.letter(topic, where)
    assert letter.reason is refused.reason
    assert letter.value_length == len(refused.value)
    assert letter.value_sha256 == hashlib.sha256(refused.value).hexdigest()
    assert letter.value is not None
    assert refused.value.startswith(letter.value)
    assert letter.truncated == (len(refused.value) > len(letter.value)
                                or len(refused.key) > len(letter.key or b""))
    assert len(encode(letter)) < 200_000

    await probe.still_serving(tag, refused.key)
    call_id = _call_id_of(refused.value)
    if refused.answered:
        assert call_id is not None
        rejected = await probe.result(call_id)
        assert rejected.status is CallStatus.REJECTED
        assert rejected.error is not None
        assert rejected.error.type == refused.reason.value
    else:  # acked (all committed above), and nothing was answered under a bad name
        assert letter.call_id == refused.named
        assert call_id not in probe.results


ERRORS = {
    # 1. output nested past the serialisers, and past the depth limit
    "output 300 deep": ("nested", {"depth": 300}, "OutputTooDeep"),
    "output 100 deep": ("nested", {"depth": 100}, "OutputTooDeep"),
    # 2. output over the broker's message limit
    "output of 1.2 MB": ("huge", {"chars": 1_200_000}, "OutputTooLarge"),
}


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
async def test_an_output_that_cannot_be_a_result_ends_in_an_error_that_fits(
        probe: Probe, case: str) -> None:
    tool, arguments, error_type = ERRORS[case]
    tag = uuid.uuid4().hex[:8]
    request = ToolCallRequested(call_id=f"{tag}-bad", session_id="hostile", tool=tool,
                                arguments=arguments)
    await probe.send(probe.pipe.topics.calls, encode(request), b"hostile")

    result = await probe.result(f"{tag}-bad")
    assert result.status is CallStatus.ERROR
    assert result.error is not None
    assert result.error.type == error_type
    assert result.output is None
    await probe.still_serving(tag, b"hostile")


async def test_a_header_flood_and_a_huge_key_do_not_stop_a_call(probe: Probe) -> None:
    tag = uuid.uuid4().hex[:8]
    request = ToolCallRequested(call_id=f"{tag}-headers", session_id="hostile", tool="echo")
    headers = [(f"h{i}", b"v" * 8) for i in range(5_000)]
    await probe.send(probe.pipe.topics.calls, encode(request), b"hostile", headers=headers)
    await probe.call(f"{tag}-key", "hostile", key=b"k" * 200_000)
    assert (await probe.result(f"{tag}-headers")).status is CallStatus.OK
    assert (await probe.result(f"{tag}-key")).status is CallStatus.OK
    await probe.still_serving(tag, b"hostile")


CANCELLATIONS = {
    "900 kB, not JSON": (b"\x00" * 900_000, DeadLetterReason.INVALID_EVENT),
    "2 MB": (b"{" + b" " * 2_000_000 + b"}", DeadLetterReason.TOO_LARGE),
    "session id of 300 characters": (
        orjson.dumps({"type": "session_cancelled", "session_id": "s" * 300, "reason": "x"}),
        DeadLetterReason.INVALID_EVENT),
    "nested 2000 deep": (b"[" * 2000 + b"]" * 2000, DeadLetterReason.INVALID_EVENT),
}


@pytest.mark.parametrize("case", list(CANCELLATIONS), ids=list(CANCELLATIONS))
async def test_a_bad_cancellation_is_dead_lettered_and_the_next_one_cancels(
        probe: Probe, case: str) -> None:
    raw, reason = CANCELLATIONS[case]
    tag = uuid.uuid4().hex[:8]
    topic = probe.pipe.topics.cancellations
    where = await probe.send(topic, raw, b"hostile")
    letter = await probe.letter(topic, where)
    assert letter.reason is reason
    assert letter.value_length == len(raw)

    victim = f"{tag}-victim"  # the cancellation agent must still be there to stop this call
    cancel = SessionCancelled(session_id=victim, reason="stop it")
    await probe.send(topic, encode(cancel), victim.encode())
    await probe.call(f"{tag}-sleeper", victim, "nap", ms=120_000)
    result = await probe.result(f"{tag}-sleeper")
    assert result.status is CallStatus.CANCELLED
    await probe.still_serving(tag, b"hostile")


@pytest.fixture
def redis_of(probe: Probe) -> Redis:
    url = probe.pipe.settings.redis_url
    assert url is not None
    return Redis.from_url(url)


async def test_a_redis_error_ends_the_call_in_an_internal_error(probe: Probe,
                                                                redis_of: Redis) -> None:
    """5. Redis refusing every write (out of memory) is not a reason to leave calls unacked."""
    tag = uuid.uuid4().hex[:8]
    await redis_of.config_set("maxmemory-policy", "noeviction")
    await redis_of.config_set("maxmemory", "1")
    try:
        await probe.call(f"{tag}-oom", "hostile")
        result = await probe.result(f"{tag}-oom")
    finally:
        await redis_of.config_set("maxmemory", "0")
    assert result.status is CallStatus.ERROR
    assert result.error is not None
    assert result.error.type == "InternalError"
    assert "maxmemory" not in result.error.message  # the details stay in the worker's log
    await probe.still_serving(tag, b"hostile")
    await redis_of.aclose()


async def test_a_foreign_ledger_entry_spoils_only_its_own_call(probe: Probe,
                                                               redis_of: Redis) -> None:
    """5. A ledger key that is not the ledger's (a list) fails its claim, not its neighbours'."""
    tag = uuid.uuid4().hex[:8]
    key = f"toolformer:ledger:{probe.pipe.settings.ledger_namespace}:{call_key(f'{tag}-foreign')}"
    await redis_of.rpush(key, "not a record")
    try:
        await probe.call(f"{tag}-foreign", "hostile")
        result = await probe.result(f"{tag}-foreign")
    finally:
        await redis_of.delete(key)
        await redis_of.aclose()
    assert result.status is CallStatus.ERROR
    assert result.error is not None
    assert result.error.type == "InternalError"
    await probe.still_serving(tag, b"hostile")
