"""The executor's input board, over an in-memory ledger port: waits, wakes, cycles, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from async_toolformer.agents.executor.dependencies import InputBoard
from async_toolformer.agents.plans import DependencyCycleError
from async_toolformer.schemas import CallStatus, CallTimings, ToolCallCompleted, ToolCallRequested


def _result(call_id: str, session: str = "s", output: Any = None) -> ToolCallCompleted:
    now = datetime.now(UTC)
    return ToolCallCompleted(
        call_id=call_id, session_id=session, tool="echo", status=CallStatus.OK, output=output,
        worker_id="w", timings=CallTimings(requested_at=now, received_at=now, finished_at=now,
                                           queue_ms=0, run_ms=0))


def _dependent(call_id: str, *inputs: str, session: str = "s") -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool="echo",
                             depends_on=list(inputs))


class MemoryLedger:
    def __init__(self) -> None:
        self.records: dict[str, ToolCallCompleted] = {}
        self.fail = False
        self.asked = 0

    async def recorded(self, call_ids: Sequence[str]) -> list[ToolCallCompleted | None]:
        self.asked += 1
        if self.fail:
            raise ConnectionError("redis is away")
        return [self.records.get(c) for c in call_ids]


async def test_a_posted_result_wakes_its_dependent() -> None:
    board = InputBoard(MemoryLedger())
    waiting = asyncio.create_task(board.wait(_dependent("b", "a"), 5))
    await asyncio.sleep(0.01)
    assert board.wants("s")
    assert not board.wants("other")
    board.post(_result("a", output=1))
    assert (await waiting)["a"].output == 1
    assert not board.wants("s")
    assert board.waiting == 0


async def test_an_input_recorded_earlier_is_read_from_the_ledger() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", output=2)
    assert (await InputBoard(ledger).wait(_dependent("b", "a"), 5))["a"].output == 2


async def test_a_record_of_another_session_is_never_an_input() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", session="stranger")
    with pytest.raises(TimeoutError, match=r"^a$"):
        await InputBoard(ledger, poll_s=0.05).wait(_dependent("b", "a"), 0.2)


async def test_a_ledger_outage_leaves_the_wait_to_posted_results() -> None:
    ledger = MemoryLedger()
    ledger.fail = True
    board = InputBoard(ledger, poll_s=0.02)
    waiting = asyncio.create_task(board.wait(_dependent("b", "a"), 5))
    await asyncio.sleep(0.1)
    assert ledger.asked >= 2  # it kept looking
    board.post(_result("a"))
    assert "a" in await waiting


async def test_without_a_ledger_recent_results_are_remembered() -> None:
    board = InputBoard(None)
    assert board.wants("any")
    board.post(_result("a", output=3))
    assert (await board.wait(_dependent("b", "a"), 1))["a"].output == 3
    for i in range(5000):  # bounded
        board.post(_result(f"x{i}"))
    with pytest.raises(TimeoutError):
        await board.wait(_dependent("c", "a"), 0.05)


async def test_calls_waiting_for_each_other_are_refused() -> None:
    board = InputBoard(MemoryLedger(), poll_s=0.05)
    first = asyncio.create_task(board.wait(_dependent("x", "y"), 5))
    second = asyncio.create_task(board.wait(_dependent("z", "x"), 5))
    await asyncio.sleep(0.01)
    with pytest.raises(DependencyCycleError, match="y -> z -> x -> y"):
        await board.wait(_dependent("y", "z"), 5)
    first.cancel()
    second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert board.waiting == 0


async def test_a_missing_input_times_out_naming_it() -> None:
    board = InputBoard(MemoryLedger(), poll_s=0.02)
    board.post(_result("a"))  # nobody waited for it: not kept, the ledger is the memory
    with pytest.raises(TimeoutError, match=r"^a, ghost$"):
        await board.wait(_dependent("b", "a", "ghost"), 0.1)
