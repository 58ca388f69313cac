"""The call guard on real Redis: no tool runs twice on a stop, a lost ledger or a lost lease.

Each test runs calls through the executor (one call at a time and as a batch)
with the ledger guard, and takes something away while a non-idempotent tool
runs: the worker stops, Redis restarts empty, the ledger key disappears.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from async_toolformer.agents.executor import Admission, CallExecutor, Sealed
from async_toolformer.agents.executor.identity import call_fingerprint
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import CallStatus, ToolCallCompleted, ToolCallRequested
from async_toolformer.streams.devtools.stack.redis_server import (
    RedisProcessFactory,
    RedisServerProcess,
)
from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.ledger import (
    ExecutionLedger,
    HeldElsewhere,
    Recorded,
    call_key,
)

from .conftest import LedgerFactory, fresh_namespace

pytestmark = pytest.mark.connected

registry = ToolRegistry()
runs: Counter[str] = Counter()
opened: set[str] = set()
cut: set[str] = set()


@tool(registry=registry)
async def transfer(tag: str) -> str:
    """Not idempotent: counts every start, then waits until the test lets it finish."""
    runs[tag] += 1
    try:
        while tag not in opened:  # noqa: ASYNC110 - the test opens it from outside
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        cut.add(tag)
        raise
    return tag


class Published:
    def __init__(self) -> None:
        self.results: list[ToolCallCompleted] = []

    async def one(self, sealed: Sealed) -> None:
        self.results.append(sealed.event)

    async def many(self, sealed: list[Sealed]) -> None:
        self.results.extend(s.event for s in sealed)


def executor_on(ledger: ExecutionLedger, worker_id: str, published: Published) -> CallExecutor:
    return CallExecutor(worker_id=worker_id, sink=published.one,
                        sink_many=published.many,  # type: ignore[arg-type]
                        guard=LedgerGuard(ledger, None, worker_id=worker_id))


def request_for(tag: str) -> ToolCallRequested:
    return ToolCallRequested(call_id=tag, session_id="s", tool="transfer",
                             arguments={"tag": tag})


async def submit(executor: CallExecutor, tag: str, *, batch: bool) -> asyncio.Future[Sealed]:
    request = request_for(tag)
    spec = registry.get("transfer")
    arguments = spec.validate(request.arguments)
    await executor.reserve()
    if batch:
        [future] = executor.submit_batch([Admission(request, spec, arguments)],
                                         received_at=datetime.now(UTC))
        return future
    return executor.submit(request, spec, arguments, received_at=datetime.now(UTC))


async def until(predicate: Callable[[], Any], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling the test's own state
            await asyncio.sleep(0.01)


def fresh_tag() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


PATHS = pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])


@PATHS
async def test_a_tool_running_past_the_grace_period_keeps_its_claim(
        make_ledger: LedgerFactory, batch: bool) -> None:
    ledger = make_ledger(lease_ms=400)
    tag = fresh_tag()
    first = executor_on(ledger, "w1", Published())
    future = await submit(first, tag, batch=batch)
    await until(lambda: runs[tag] == 1)

    assert await first.drain(0.05) == 1  # the grace period ends with the tool still running
    await first.close()
    await asyncio.wait([future], timeout=5)
    assert future.cancelled() or future.exception() is not None  # no result published

    # not handed back as if it had never started
    held = await ledger.claim(call_key(tag), "w2", fingerprint=call_fingerprint(request_for(tag)))
    assert isinstance(held, HeldElsewhere)
    assert held.owner == "w1"

    # The next owner, once the lease has expired, does not run it a second time.
    opened.add(tag)
    published = Published()
    second = executor_on(ledger, "w2", published)
    result = (await asyncio.wait_for(await submit(second, tag, batch=batch), 10)).event
    assert result.status is CallStatus.INDETERMINATE
    assert runs[tag] == 1
    await second.close()


async def restart_under(server: RedisServerProcess, tag: str) -> None:
    await until(lambda: runs[tag] == 1)
    await server.restart()  # no persistence: every claim is gone
    opened.add(tag)


@pytest_asyncio.fixture(loop_scope="session")
async def lone_redis(redis_process_factory: RedisProcessFactory
                     ) -> AsyncIterator[tuple[RedisServerProcess, ExecutionLedger]]:
    """A redis-server of the test's own, to restart, with a ledger on it (long leases)."""
    server = await redis_process_factory()
    ledger = ExecutionLedger.from_url(server.url, namespace=fresh_namespace(), lease_ms=30_000,
                                      linger_ms=0)
    try:
        yield server, ledger
    finally:
        await ledger.redis.aclose()


@PATHS
async def test_a_ledger_lost_while_the_tool_ran_answers_indeterminate_not_again(
        lone_redis: tuple[RedisServerProcess, ExecutionLedger], batch: bool) -> None:
    server, ledger = lone_redis
    tag = fresh_tag()
    published = Published()
    executor = executor_on(ledger, "w1", published)
    future = await submit(executor, tag, batch=batch)
    await restart_under(server, tag)

    result = (await asyncio.wait_for(future, 20)).event
    assert result.status is CallStatus.INDETERMINATE
    assert "lost its claim" in (result.error.message if result.error else "")
    assert runs[tag] == 1  # never run again on the same worker
    assert [r.call_id for r in published.results] == [tag]
    recorded = await ledger.claim(call_key(tag), "w2",  # and the answer is now the record
                                  fingerprint=call_fingerprint(request_for(tag)))
    assert isinstance(recorded, Recorded)
    await executor.close()


@PATHS
async def test_a_lease_lost_while_the_tool_runs_cancels_it(
        make_ledger: LedgerFactory, batch: bool) -> None:
    ledger = make_ledger(lease_ms=300)
    tag = fresh_tag()
    published = Published()
    executor = executor_on(ledger, "w1", published)
    future = await submit(executor, tag, batch=batch)
    await until(lambda: runs[tag] == 1)
    await ledger.redis.delete(ledger.key(call_key(tag)))  # evicted: the next renewal finds it gone

    result = (await asyncio.wait_for(future, 20)).event
    assert tag in cut  # the tool was stopped, not left running unguarded
    assert result.status is CallStatus.INDETERMINATE
    assert runs[tag] == 1
    await executor.close()
