"""CallExecutor without Kafka: concurrency, caps, cancellation, one result per call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from async_toolformer.agents.executor import CallExecutor, Sealed
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
    decode_as,
)

registry = ToolRegistry()


@tool(registry=registry)
async def wait(ms: int) -> int:
    """Sleep."""
    await asyncio.sleep(ms / 1000)
    return ms


def _executor(results: list[ToolCallCompleted], **options: object) -> CallExecutor:
    async def sink(sealed: Sealed) -> None:
        assert decode_as(ToolCallCompleted, sealed.wire) == sealed.event
        results.append(sealed.event)

    return CallExecutor(worker_id="w", sink=sink, **options)  # type: ignore[arg-type]


async def _submit(executor: CallExecutor, call_id: str, ms: int, *, session: str = "s",
                  branch: str = "main") -> asyncio.Task[Sealed]:
    request = ToolCallRequested(call_id=call_id, session_id=session, branch_id=branch,
                                tool="wait", arguments={"ms": ms})
    await executor.reserve()
    spec = registry.get("wait")
    return executor.submit(request, spec, spec.validate(request.arguments),
                           received_at=datetime.now(UTC))


async def test_calls_run_concurrently_and_each_ends_once() -> None:
    results: list[ToolCallCompleted] = []
    executor = _executor(results)
    tasks = [await _submit(executor, f"c{i}", 100) for i in range(50)]
    await asyncio.gather(*tasks)
    assert sorted(r.call_id for r in results) == sorted(f"c{i}" for i in range(50))
    assert executor.stats.in_flight == 0
    first_finish = min(r.timings.finished_at for r in results)
    assert all(r.timings.started_at and r.timings.started_at < first_finish for r in results)


async def test_reserve_blocks_at_the_worker_cap() -> None:
    results: list[ToolCallCompleted] = []
    executor = _executor(results, max_in_flight=2)
    await _submit(executor, "a", 200)
    await _submit(executor, "b", 200)
    blocked = asyncio.create_task(executor.reserve())
    await asyncio.sleep(0.05)
    assert not blocked.done()
    await asyncio.wait_for(blocked, 1)


async def test_cancel_branch_stops_running_calls_with_the_reason() -> None:
    results: list[ToolCallCompleted] = []
    executor = _executor(results)
    doomed = await _submit(executor, "x", 10_000, branch="b")
    kept = await _submit(executor, "y", 50, branch="other")
    await asyncio.sleep(0.02)
    assert executor.cancel(BranchCancelled(session_id="s", branch_id="b", reason="pruned")) == 1
    cancelled, ok = [sealed.event for sealed in await asyncio.gather(doomed, kept)]
    assert cancelled.status is CallStatus.CANCELLED
    assert cancelled.error is not None
    assert cancelled.error.message == "pruned"
    assert cancelled.timings.started_at is not None  # it ran: its time is not queue time
    assert cancelled.timings.run_ms > 0
    assert cancelled.attempts == 1
    assert ok.status is CallStatus.OK


async def test_calls_of_a_cancelled_session_never_start() -> None:
    results: list[ToolCallCompleted] = []
    executor = _executor(results)
    executor.cancel(SessionCancelled(session_id="gone", reason="bye"))
    result = (await (await _submit(executor, "late", 10_000, session="gone"))).event
    assert result.status is CallStatus.CANCELLED
    assert result.timings.started_at is None


async def test_a_duplicate_call_id_follows_the_running_one() -> None:
    results: list[ToolCallCompleted] = []
    executor = _executor(results)
    first = await _submit(executor, "dup", 100)
    second = await _submit(executor, "dup", 100)
    a, b = await asyncio.gather(first, second)
    assert a == b
    assert len(results) == 2  # each delivery is answered, from one run
