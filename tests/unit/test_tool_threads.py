"""Sync tools that outlive their call: counted as zombies, replaced, never starving new calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from async_toolformer.agents.exceptions import ToolFailure
from async_toolformer.agents.executor import CallExecutor, Sealed
from async_toolformer.agents.executor.threads import ToolThreads
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import CallStatus, ToolCallRequested

registry = ToolRegistry()
GATE = threading.Event()  # the stuck tools return once it is set


@tool(registry=registry, timeout_s=0.1)
def stuck() -> str:
    """Blocks its thread far past its timeout."""
    GATE.wait(30)
    return "late"


@tool(registry=registry, timeout_s=5)
def quick() -> str:
    """Returns at once."""
    return "done"


@pytest.fixture(autouse=True)
def gate() -> Iterator[threading.Event]:
    GATE.clear()
    yield GATE
    GATE.set()  # no thread outlives the test


def _until(condition: object, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_zombies_are_counted_replaced_and_refused_past_the_cap(
        gate: threading.Event) -> None:
    pool = ToolThreads(2, max_threads=3)
    try:
        first = [pool.submit(gate.wait, 30) for _ in range(2)]
        _until(lambda: all(f.running() for f in first))
        assert pool.alive == 2
        queued = pool.submit(lambda: "queued")
        assert not queued.done()  # two live calls hold the two places
        for future in first:
            assert not future.cancel()  # running: the caller gives up, the thread goes on
        assert pool.zombies == 2
        assert queued.result(5) == "queued"  # a replacement thread took it
        third = pool.submit(gate.wait, 30)
        _until(third.running)
        third.cancel()
        assert pool.zombies == 3
        with pytest.raises(ToolFailure, match="all 3 threads") as refused:
            pool.submit(lambda: "never")
        assert refused.value.retryable
        gate.set()
        _until(lambda: pool.zombies == 0 and pool.alive == 0)
        assert pool.submit(lambda: "again").result(5) == "again"
    finally:
        gate.set()
        pool.shutdown(wait=True)


def test_a_call_cancelled_before_its_thread_started_is_no_zombie(
        gate: threading.Event) -> None:
    pool = ToolThreads(1)
    try:
        running = pool.submit(gate.wait, 30)
        waiting = pool.submit(lambda: "never")
        assert waiting.cancel()
        assert pool.zombies == 0
        gate.set()
        assert running.result(5) is True
    finally:
        pool.shutdown(wait=True)


async def test_sync_calls_run_while_timed_out_ones_hold_every_first_thread() -> None:
    results: list[Sealed] = []

    async def sink(sealed: Sealed) -> None:
        results.append(sealed)

    executor = CallExecutor(worker_id="w", sink=sink, thread_workers=2)
    try:
        hung = [await _submit(executor, f"s{i}", "stuck") for i in range(2)]
        assert [(await task).event.status for task in hung] == [CallStatus.TIMEOUT] * 2
        assert executor.zombie_threads == 2
        after = await asyncio.wait_for(await _submit(executor, "q", "quick"), 10)
        assert after.event.status is CallStatus.OK  # not queued behind the two zombies
        assert after.event.output == "done"
        GATE.set()
        async with asyncio.timeout(10):
            while executor.zombie_threads:  # noqa: ASYNC110 - polling a gauge
                await asyncio.sleep(0.01)
    finally:
        GATE.set()
        await executor.close()


async def _submit(executor: CallExecutor, call_id: str, name: str) -> asyncio.Task[Sealed]:
    request = ToolCallRequested(call_id=call_id, session_id="s", tool=name)
    await executor.reserve()
    return executor.submit(request, registry.get(name), {}, received_at=datetime.now(UTC))
