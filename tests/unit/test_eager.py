"""Running a tool's coroutine eagerly, with its deadline armed only once it waits."""

from __future__ import annotations

import asyncio

import pytest

from async_toolformer.agents.executor._eager import run_until, within


def _deadline(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


async def test_a_coroutine_that_never_waits_answers_without_a_timer() -> None:
    async def instant() -> str:
        return "done"

    loop = asyncio.get_running_loop()
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    assert await run_until(instant(), _deadline(5)) == "done"
    assert len(loop._scheduled) == timers  # type: ignore[attr-defined]


async def test_a_coroutine_that_waits_gets_its_value_through() -> None:
    async def waits() -> list[int]:
        values = []
        for i in range(3):
            await asyncio.sleep(0.001)
            await asyncio.sleep(0)  # a bare yield to the loop
            values.append(i)
        return values

    assert await run_until(waits(), _deadline(5)) == [0, 1, 2]


async def test_the_deadline_interrupts_a_coroutine_that_hangs_and_unwinds_it() -> None:
    unwound = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.sleep(30)
        finally:
            unwound.set()

    with pytest.raises(TimeoutError):
        await run_until(hangs(), _deadline(0.05))
    assert unwound.is_set()


async def test_the_deadline_counts_from_before_the_first_step() -> None:
    loop = asyncio.get_running_loop()

    async def slow_start() -> None:
        await asyncio.sleep(0.2)

    started = loop.time()
    with pytest.raises(TimeoutError):
        await run_until(slow_start(), started + 0.05)
    assert loop.time() - started < 0.2


async def test_cancellation_reaches_the_tool_which_may_answer_it() -> None:
    seen = asyncio.Event()

    async def answers_cancel() -> str:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.set()
            raise
        return "unreachable"

    task = asyncio.create_task(run_until(answers_cancel(), _deadline(30)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen.is_set()


async def test_errors_from_the_first_step_and_later_ones_propagate() -> None:
    async def fails_at_once() -> None:
        raise ValueError("first")

    async def fails_later() -> None:
        await asyncio.sleep(0)
        raise KeyError("later")

    with pytest.raises(ValueError, match="first"):
        await run_until(fails_at_once(), _deadline(5))
    with pytest.raises(KeyError, match="later"):
        await run_until(fails_later(), _deadline(5))


async def test_the_tool_runs_inside_the_awaiting_task() -> None:
    async def inner() -> asyncio.Task[object] | None:
        async with asyncio.timeout(5):  # needs a current task
            await asyncio.sleep(0)
        return asyncio.current_task()

    async def outer() -> tuple[object, object]:
        return asyncio.current_task(), await run_until(inner(), _deadline(5))

    me, seen_by_tool = await asyncio.create_task(outer())
    assert me is seen_by_tool


async def test_deadlines_in_one_tick_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()
    deadline = _deadline(30)
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    waiting = [asyncio.create_task(within(gate.wait(), deadline)) for _ in range(500)]
    await asyncio.sleep(0)
    assert len(loop._scheduled) - timers <= 2  # type: ignore[attr-defined]  # a tick edge at most
    gate.set()
    assert await asyncio.gather(*waiting) == [True] * 500


async def test_a_deadline_never_fires_early() -> None:
    loop = asyncio.get_running_loop()
    for wait_s in (0.0, 0.012, 0.031):
        started = loop.time()
        with pytest.raises(TimeoutError):
            await within(asyncio.sleep(10), started + wait_s)
        assert loop.time() >= started + wait_s


async def test_a_cancellation_from_elsewhere_is_not_taken_for_the_timeout() -> None:
    async def cancelled_as_it_expires() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.call_soon(task.cancel)  # another party, in the same loop turn as the expiry
        await within(asyncio.sleep(10), loop.time() - 1)

    task = asyncio.create_task(cancelled_as_it_expires())
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_expired_deadline_leaves_no_cancellation_counted() -> None:
    async def times_out_then_goes_on() -> int:
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(TimeoutError):
            await within(asyncio.sleep(10), asyncio.get_running_loop().time() + 0.01)
        await asyncio.sleep(0)  # no cancellation left pending
        return task.cancelling()

    assert await asyncio.create_task(times_out_then_goes_on()) == 0
