"""The executor's input board, over an in-memory ledger port: waits, wakes, cycles, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from async_toolformer.agents.executor.dependencies import InputBoard
from async_toolformer.agents.executor.guarding import Sealed
from async_toolformer.agents.plans import DependencyCycleError
from async_toolformer.schemas import (
    CallStatus,
    CallTimings,
    ToolCallCompleted,
    ToolCallRequested,
    ToolError,
)


def _result(call_id: str, session: str = "s", output: Any = None) -> ToolCallCompleted:
    now = datetime.now(UTC)
    return ToolCallCompleted(
        call_id=call_id, session_id=session, tool="echo", status=CallStatus.OK, output=output,
        worker_id="w", timings=CallTimings(requested_at=now, received_at=now, finished_at=now,
                                           queue_ms=0, run_ms=0))


def _post(board: InputBoard, result: ToolCallCompleted, tenant: str = "default") -> None:
    board.post(Sealed.of(result), tenant)


def _dependent(call_id: str, *inputs: str, session: str = "s",
               tenant: str = "default") -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool="echo",
                             depends_on=list(inputs), tenant=tenant)


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
    assert board.waiting == 1
    _post(board, _result("a", output=1))
    assert (await waiting)["a"].output == 1
    assert board.waiting == 0


async def test_an_input_recorded_earlier_is_read_from_the_ledger() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", output=2)
    board = InputBoard(ledger)
    _post(board, _result("a", output=2))  # published here for this tenant and session
    assert (await board.wait(_dependent("b", "a"), 5))["a"].output == 2


async def test_a_record_not_known_as_the_dependents_own_is_never_read() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", output="alice's")
    board = InputBoard(ledger, poll_s=0.02)
    with pytest.raises(TimeoutError, match=r"^a$"):  # published by no call seen here
        await board.wait(_dependent("b", "a"), 0.1)
    _post(board, _result("a", output="alice's"), tenant="alice")
    with pytest.raises(TimeoutError, match=r"^a$"):  # another tenant's, same session
        await board.wait(_dependent("b", "a", tenant="mallory"), 0.1)
    assert ledger.asked == 0  # not even asked for
    assert (await board.wait(_dependent("b", "a", tenant="alice"), 1))["a"].output == "alice's"


async def test_a_posted_result_wakes_only_its_tenant_and_session() -> None:
    board = InputBoard(MemoryLedger(), poll_s=0.02)
    waiting = asyncio.create_task(board.wait(_dependent("b", "a", tenant="alice"), 0.2))
    await asyncio.sleep(0.01)
    _post(board, _result("a", output="EVIL"), tenant="mallory")
    _post(board, _result("a", session="other", output="EVIL"), tenant="alice")
    with pytest.raises(TimeoutError):
        await waiting


async def test_a_conflict_answer_does_not_make_a_call_id_anyones() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", output="alice's")
    board = InputBoard(ledger, poll_s=0.02)
    conflict = _result("a").model_copy(update={
        "status": CallStatus.REJECTED, "output": None,
        "error": ToolError(type="Conflict", message="another call's")})
    _post(board, conflict, tenant="mallory")
    with pytest.raises(TimeoutError):
        await board.wait(_dependent("b", "a", tenant="mallory"), 0.1)


async def test_a_record_of_another_session_is_never_an_input() -> None:
    ledger = MemoryLedger()
    ledger.records["a"] = _result("a", session="stranger")
    with pytest.raises(TimeoutError, match=r"^a$"):
        await InputBoard(ledger, poll_s=0.05).wait(_dependent("b", "a"), 0.2)


async def test_a_ledger_outage_leaves_the_wait_to_posted_results() -> None:
    ledger = MemoryLedger()
    ledger.fail = True
    board = InputBoard(ledger, poll_s=0.02)
    _post(board, _result("a", output=1))  # published here earlier: read from the ledger
    ledger.records["a"] = _result("a", output=1)
    waiting = asyncio.create_task(board.wait(_dependent("b", "a"), 5))
    await asyncio.sleep(0.1)
    assert ledger.asked >= 2  # it kept looking
    assert not waiting.done()
    ledger.fail = False
    assert (await waiting)["a"].output == 1
    late = asyncio.create_task(board.wait(_dependent("c", "z"), 5))
    await asyncio.sleep(0.05)
    _post(board, _result("z", output=2))  # a result posted wakes it, ledger or not
    assert (await late)["z"].output == 2


async def test_without_a_ledger_recent_results_are_remembered() -> None:
    board = InputBoard(None)
    _post(board, _result("a", output=3))
    assert (await board.wait(_dependent("b", "a"), 1))["a"].output == 3
    for i in range(20_000):  # bounded in count
        _post(board, _result(f"x{i}"))
    with pytest.raises(TimeoutError):
        await board.wait(_dependent("c", "a"), 0.05)


async def test_without_a_ledger_remembered_results_are_bounded_in_bytes() -> None:
    board = InputBoard(None, remembered_bytes=1_000_000)
    for i in range(20):  # about 100 kB each
        _post(board, _result(f"big{i}", output="x" * 100_000))
        assert board.remembered_bytes <= 1_000_000
    assert board.remembered_bytes > 800_000
    with pytest.raises(TimeoutError):  # the oldest went first
        await board.wait(_dependent("c", "big0"), 0.05)
    assert (await board.wait(_dependent("d", "big19"), 1))["big19"].output == "x" * 100_000
    _post(board, _result("huge", output="x" * 2_000_000))  # over the whole budget: not kept
    assert board.remembered_bytes <= 1_000_000


async def test_with_a_ledger_no_result_bytes_are_kept() -> None:
    board = InputBoard(MemoryLedger())
    _post(board, _result("a", output="x" * 100_000))
    assert board.remembered_bytes == 0


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
    _post(board, _result("a"))  # nobody waited for it: only whose it is is kept
    with pytest.raises(TimeoutError, match=r"^a, ghost$"):
        await board.wait(_dependent("b", "a", "ghost"), 0.1)
