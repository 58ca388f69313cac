"""Redis fails during an LLM turn: the turn ends in LLMTurnFailed or recovers, never hangs.

The turn guard runs over a ledger on a redis-server of the test's own, which the
test stops and starts again; the model is a scripted drive that feeds the turn's
events as the session runtime would see them. The last test runs a whole
session on a worker whose Redis is down when the session starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from async_toolformer.agents.providers import LLMProvider, TurnRequest, UserMessage
from async_toolformer.agents.sessions import CallModel, Feed
from async_toolformer.agents.tools import load_tools
from async_toolformer.schemas import (
    LLMTurnCompleted,
    LLMTurnFailed,
    LLMTurnStarted,
    SessionEvent,
    SessionOptions,
)
from async_toolformer.streams.client import SessionClient
from async_toolformer.streams.devtools.fakellm import FakeLLMServer
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)
from async_toolformer.streams.kafka.topics import TopicCatalogue, ensure_topics
from async_toolformer.streams.redis.ledger import ExecutionLedger
from async_toolformer.streams.redis.turn_guard import LedgerTurnGuard, turn_key
from async_toolformer.streams.worker.llm_settings import LLMSettings
from async_toolformer.streams.worker.run import RunningWorker, run_worker
from async_toolformer.streams.worker.settings import Settings

from .conftest import TEST_TOOLS

pytestmark = [pytest.mark.connected, pytest.mark.slow]


class NoProviders:
    """The guard asks for a provider only to name a rate limit; these tests set none."""

    def provider(self, options: SessionOptions) -> LLMProvider:
        raise AssertionError("no provider is needed without rate limits")


def command() -> CallModel:
    return CallModel(session_id=f"s-{uuid.uuid4().hex[:8]}", turn=0, attempt=1,
                     request=TurnRequest((UserMessage("hi"),)), options=SessionOptions())


class ScriptedTurn:
    """A model turn that starts, waits for ``finish``, then completes (or fails)."""

    def __init__(self, *, fails: bool = False) -> None:
        self.command = command()
        self.started = asyncio.Event()
        self.finish = asyncio.Event()
        self.calls = 0
        self._fails = fails

    async def __call__(self, feed: Feed) -> None:
        self.calls += 1
        cmd = self.command
        feed(LLMTurnStarted(session_id=cmd.session_id, turn=cmd.turn))
        self.started.set()
        await self.finish.wait()
        if self._fails:
            feed(LLMTurnFailed(session_id=cmd.session_id, turn=cmd.turn, error="model said no"))
        else:
            feed(LLMTurnCompleted(session_id=cmd.session_id, turn=cmd.turn, text="hello"))


@pytest_asyncio.fixture(loop_scope="session")
async def lone_redis(redis_process_factory: RedisProcessFactory
                     ) -> AsyncIterator[tuple[RedisServerProcess, ExecutionLedger]]:
    server = await redis_process_factory()
    ledger = ExecutionLedger.from_url(server.url, namespace=f"turns-{uuid.uuid4().hex[:8]}",
                                      lease_ms=300, linger_ms=0)
    try:
        yield server, ledger
    finally:
        await ledger.redis.aclose()


def guard_on(ledger: ExecutionLedger, *, patience_s: float) -> LedgerTurnGuard:
    return LedgerTurnGuard(ledger, None, NoProviders(), worker_id="w1", patience_s=patience_s)


def kinds(events: list[SessionEvent]) -> list[str]:
    return [event.type for event in events]


async def test_a_ledger_down_before_the_turn_fails_the_turn_instead_of_hanging(
        lone_redis: tuple[RedisServerProcess, ExecutionLedger]) -> None:
    server, ledger = lone_redis
    await server.stop()
    turn = ScriptedTurn()
    events: list[SessionEvent] = []
    await asyncio.wait_for(guard_on(ledger, patience_s=0.5).run(turn.command, turn,
                                                                  events.append), 30)
    assert kinds(events) == ["llm_turn_failed"]
    failed = events[0]
    assert isinstance(failed, LLMTurnFailed)
    assert "execution ledger" in failed.error
    assert turn.calls == 0  # the model was not called without a claim


async def test_a_ledger_down_past_the_turns_end_leaves_the_turn_standing(
        lone_redis: tuple[RedisServerProcess, ExecutionLedger]) -> None:
    server, ledger = lone_redis
    turn = ScriptedTurn()
    events: list[SessionEvent] = []
    guard = guard_on(ledger, patience_s=0.5)
    running = asyncio.create_task(guard.run(turn.command, turn, events.append))
    await turn.started.wait()
    await server.stop()  # down for longer than the lease, and when the turn records
    await asyncio.sleep(0.5)
    turn.finish.set()
    await asyncio.wait_for(running, 30)  # no exception escapes the model task
    assert kinds(events) == ["llm_turn_started", "llm_turn_completed"]
    await server.start()


async def test_a_ledger_back_before_patience_runs_out_records_the_turn(
        lone_redis: tuple[RedisServerProcess, ExecutionLedger]) -> None:
    server, ledger = lone_redis
    turn = ScriptedTurn()
    events: list[SessionEvent] = []
    guard = guard_on(ledger, patience_s=30)
    await server.stop()
    running = asyncio.create_task(guard.run(turn.command, turn, events.append))
    await asyncio.sleep(0.5)
    await server.start()  # the claim, retried meanwhile, goes through
    await asyncio.wait_for(turn.started.wait(), 30)
    turn.finish.set()
    await asyncio.wait_for(running, 30)
    assert kinds(events) == ["llm_turn_started", "llm_turn_completed"]
    assert await ledger.lookup(turn_key(turn.command)) is not None


async def test_a_failed_turn_whose_claim_cannot_be_released_still_ends_once(
        lone_redis: tuple[RedisServerProcess, ExecutionLedger]) -> None:
    server, ledger = lone_redis
    turn = ScriptedTurn(fails=True)
    events: list[SessionEvent] = []
    running = asyncio.create_task(guard_on(ledger, patience_s=0.5).run(
        turn.command, turn, events.append))
    await turn.started.wait()
    await server.stop()
    turn.finish.set()
    await asyncio.wait_for(running, 30)
    assert kinds(events) == ["llm_turn_started", "llm_turn_failed"]
    await server.start()


async def test_a_session_whose_redis_is_down_at_its_first_turn_completes_when_it_returns(
        kafka_bootstrap: str, redis_process_factory: RedisProcessFactory,
        fake_llm: FakeLLMServer, llm_env: None) -> None:
    server = await redis_process_factory()
    name = f"o{uuid.uuid4().hex[:10]}"
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, redis_url=server.url,
                        ledger_namespace=name, topic_prefix=f"{name}.",
                        group_id=f"{name}-workers", worker_id=f"{name}-w", partitions=4,
                        metrics_port=None, tools=[TEST_TOOLS])
    await ensure_topics(kafka_bootstrap, TopicCatalogue(settings.topic_prefix), partitions=4)
    stop = asyncio.Event()
    ready: asyncio.Future[RunningWorker] = asyncio.get_running_loop().create_future()
    worker = asyncio.create_task(run_worker(settings, stop, registry=load_tools([TEST_TOOLS]),
                                            grace_s=1, on_started=ready.set_result,
                                            llm=LLMSettings()))  # as llm_env set it
    try:
        await asyncio.wait_for(ready, 60)
        await server.stop()
        async with SessionClient(kafka_bootstrap, topic_prefix=settings.topic_prefix) as client:
            session = asyncio.create_task(client.run_session(
                "look twice", tools=["sleep", "echo"], options={"model": "two_turns"},
                timeout_s=90))
            await asyncio.sleep(1.0)  # the first turn's claim waits for the ledger
            assert not session.done()
            await server.start()
            completed = await session
        assert completed.answer == "All done: 42."
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(worker, 30)
