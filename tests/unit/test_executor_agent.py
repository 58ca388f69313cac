"""ExecutorAgent.take_calls: a fetch's records, bad ones among them, under the worker's cap."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from async_toolformer.agents.executor import CallExecutor
from async_toolformer.agents.executor.agent import ExecutorAgent, ResultPublisher
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    CallStatus,
    DeadLetter,
    ToolCallCompleted,
    ToolCallRequested,
    decode,
    encode,
)

registry = ToolRegistry()


@tool(registry=registry)
async def pause(ms: int) -> int:
    """Waits."""
    await asyncio.sleep(ms / 1000)
    return ms


@dataclass(frozen=True)
class Record:
    """What the tap reads of a Faust consumer record."""

    offset: int
    value: bytes | None
    key: bytes | None = b"s"
    topic: str = "calls"
    partition: int = 0

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


class Topics:
    """An EventPublisher that keeps what it was given, per topic."""

    def __init__(self) -> None:
        self.events: dict[str, list[object]] = {}

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> bool:
        self.events.setdefault(topic, []).append(decode(value))
        return True

    async def publish_many(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]
                           ) -> list[tuple[bytes | None, bytes]]:
        for key, value in records:
            await self.publish(topic, key, value)
        return []


class Acks:
    """The offsets acked, in order, and a wait for a number of them."""

    def __init__(self) -> None:
        self.offsets: list[int] = []
        self._changed = asyncio.Event()

    def __call__(self, records: list[Record]) -> None:
        self.offsets.extend(record.offset for record in records)
        self._changed.set()

    async def reach(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.offsets) < n:
                self._changed.clear()
                await self._changed.wait()


def _agent(topics: Topics, acked: Acks, *, max_in_flight: int) -> ExecutorAgent:
    from async_toolformer.agents.executor.ports import NullObserver

    sink = ResultPublisher(topics, "results", NullObserver())
    executor = CallExecutor(worker_id="w", sink=sink, sink_many=sink.many,
                            max_in_flight=max_in_flight)
    return ExecutorAgent(registry=registry, executor=executor, publisher=topics,
                         publish_result=sink, dlq_topic="dlq", worker_id="w",
                         max_payload_bytes=10_000, ack=acked)


def _call(offset: int, ms: int = 30) -> Record:
    request = ToolCallRequested(call_id=f"c{offset}", session_id="s", tool="pause",
                                arguments={"ms": ms})
    return Record(offset, encode(request))


async def test_a_fetch_larger_than_the_cap_still_runs_every_call() -> None:
    topics, acked = Topics(), Acks()
    agent = _agent(topics, acked, max_in_flight=2)
    await asyncio.wait_for(agent.take_calls([_call(i) for i in range(7)]), 5)
    await acked.reach(7)
    assert acked.offsets == list(range(7))
    results = topics.events["results"]
    assert sorted(r.call_id for r in results if isinstance(r, ToolCallCompleted)) == sorted(
        f"c{i}" for i in range(7))


async def test_bad_records_in_a_fetch_are_dead_lettered_in_their_place() -> None:
    topics, acked = Topics(), Acks()
    agent = _agent(topics, acked, max_in_flight=100)
    unknown = ToolCallRequested(call_id="u", session_id="s", tool="nope", arguments={})
    await agent.take_calls([_call(0), Record(1, b"\xff not json"), _call(2),
                            Record(3, encode(unknown)), _call(4)])
    await acked.reach(5)
    assert acked.offsets == [0, 1, 2, 3, 4]
    letters = topics.events["dlq"]
    assert [(d.source_offset, d.reason.value) for d in letters if isinstance(d, DeadLetter)] == [
        (1, "undecodable"), (3, "unknown_tool")]
    by_id = {r.call_id: r.status for r in topics.events["results"]
             if isinstance(r, ToolCallCompleted)}
    assert by_id == {"c0": CallStatus.OK, "c2": CallStatus.OK, "c4": CallStatus.OK,
                     "u": CallStatus.REJECTED}
