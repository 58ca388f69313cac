"""Which results the session agent lets the consumer ack without an event (pure unit)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from async_toolformer.agents.providers import LLMProvider
from async_toolformer.agents.sessions import (
    MemoryOutbox,
    RegistryCatalogue,
    SessionAgent,
    SessionMachine,
    SessionRuntime,
    SessionState,
    SessionTopics,
)
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import SessionEvent, SessionOptions, SessionStarted


@dataclass(frozen=True)
class _Record:
    tp: tuple[str, int]
    partition: int
    key: bytes | None


class _EmptyJournal:
    async def read_many(self, partitions: set[int]) -> dict[int, Sequence[SessionEvent]]:
        return {partition: [] for partition in partitions}


class _NoModels:
    def provider(self, options: SessionOptions) -> LLMProvider:
        raise AssertionError("no model is called in these tests")


def _agent() -> SessionAgent:
    catalogue = RegistryCatalogue(load_tools([]))
    outbox = MemoryOutbox()
    topics = SessionTopics(calls="c", cancellations="x", session_events="e", dlq="d")
    runtime = SessionRuntime(SessionMachine(catalogue), outbox, _NoModels(), topics,
                             _EmptyJournal())
    return SessionAgent(runtime=runtime, catalogue=catalogue, outbox=outbox, worker_id="w")


def _result(session: bytes | None, partition: int = 0) -> _Record:
    return _Record(tp=("results", partition), partition=partition, key=session)


async def test_results_pass_until_their_partition_is_refolded() -> None:
    agent = _agent()
    assert agent.wants_result(_result(b"stranger"))
    await agent.runtime.ensure_recovered(0)
    assert not agent.wants_result(_result(b"stranger"))
    assert agent.wants_result(_result(b"stranger", partition=1))


async def test_results_of_open_sessions_and_unreadable_keys_pass() -> None:
    agent = _agent()
    await agent.runtime.ensure_recovered(0)
    agent.runtime.states["open"] = SessionState(
        request=SessionStarted(session_id="open", prompt="hi"), history=[])
    assert agent.wants_result(_result(b"open"))
    assert agent.wants_result(_result(None))
    assert agent.wants_result(_result(b"\xff"))


async def test_a_pending_earlier_record_keeps_acks_in_order() -> None:
    agent = _agent()
    await agent.runtime.ensure_recovered(0)
    agent.tracker.start(("results", 0), 7, object())
    assert agent.wants_result(_result(b"stranger"))
    agent.tracker.finish(("results", 0), 7)
    assert not agent.wants_result(_result(b"stranger"))
