"""The claim protocol as a unit, over the in-memory ledger: what is released, kept, cut short."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from async_toolformer.streams.redis.claim import ClaimProtocol, LeaseLostError, Stint
from async_toolformer.streams.redis.ledger import (
    Acquired,
    HeldElsewhere,
    InMemoryLedger,
    LedgerUnavailableError,
    Recorded,
)


class Job:
    """Work that records its answer as bytes; ``body`` is what its tool does."""

    def __init__(self, body: Callable[[], Awaitable[str]], *, side_effects: bool = True) -> None:
        self.side_effects = side_effects
        self.fingerprint = ""
        self._body = body
        self.started_here_seen: list[bool] = []

    def answer(self, stored: bytes) -> str:
        return stored.decode()

    def conflict(self) -> str:
        return "conflict"

    def instead(self, takeover_from: str | None, started_here: bool) -> str | None:
        self.started_here_seen.append(started_here)
        return "indeterminate" if started_here else None

    async def run(self, stint: Stint) -> str:
        return await stint.enter(self._body)

    def record_of(self, result: str) -> bytes:
        return result.encode()


class Gate:
    """A tool that waits to be let through, and says whether it started and how it ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()
        self.cancelled = False

    async def __call__(self) -> str:
        self.started.set()
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return "ran"


async def test_a_claim_whose_tool_never_started_is_released_on_a_stop() -> None:
    ledger = InMemoryLedger()
    admitted = asyncio.Event()  # stands for a rate limit that never admits

    async def body() -> str:
        return "ran"

    class Waiting(Job):
        async def run(self, stint: Stint) -> str:
            await admitted.wait()
            return await stint.enter(body)

    task = asyncio.create_task(ClaimProtocol(ledger, "w1").settle("c", Waiting(body)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    retaken = await ledger.claim("c", "w2")
    assert isinstance(retaken, Acquired)
    assert retaken.takeover_from is None


async def test_a_claim_whose_tool_started_is_kept_on_a_stop() -> None:
    ledger = InMemoryLedger()
    gate = Gate()
    task = asyncio.create_task(ClaimProtocol(ledger, "w1").settle("c", Job(gate)))
    await gate.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    held = await ledger.claim("c", "w2")
    assert isinstance(held, HeldElsewhere)
    assert held.owner == "w1"


async def test_work_without_side_effects_is_released_even_once_started() -> None:
    ledger = InMemoryLedger()
    gate = Gate()
    task = asyncio.create_task(ClaimProtocol(ledger, "w1").settle(
        "turn", Job(gate, side_effects=False)))
    await gate.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert isinstance(await ledger.claim("turn", "w2"), Acquired)


class UnreleasableLedger(InMemoryLedger):
    async def release(self, call_id: str, token: int) -> bool:
        raise LedgerUnavailableError("redis://nowhere:1/0", ConnectionError("refused"))


async def test_a_failed_release_never_replaces_the_error_that_caused_it() -> None:
    async def broken() -> str:
        raise ValueError("the turn itself broke")

    with pytest.raises(ValueError, match="the turn itself broke"):
        await ClaimProtocol(UnreleasableLedger(), "w1").settle(
            "turn", Job(broken, side_effects=False))


async def test_a_lease_lost_while_the_tool_runs_cuts_it_short_and_takes_the_new_record() -> None:
    now = [1_000]
    ledger = InMemoryLedger(lease_ms=90, clock=lambda: now[0])
    gate = Gate()
    job = Job(gate)
    task = asyncio.create_task(ClaimProtocol(ledger, "w1").settle("c", job))
    await gate.started.wait()
    now[0] += 1_000  # w1 stalled past its lease on the ledger's clock; w2 takes over
    taken = await ledger.claim("c", "w2")
    assert isinstance(taken, Acquired)
    assert taken.takeover_from == "w1"
    while not gate.cancelled:  # noqa: ASYNC110 - the keeper's next renewal finds it lost
        await asyncio.sleep(0.01)
    assert await ledger.complete("c", taken.token, b"w2 answered")
    assert await asyncio.wait_for(task, 5) == "w2 answered"


async def test_a_lease_lost_then_acquired_again_is_answered_without_running_again() -> None:
    now = [1_000]
    ledger = InMemoryLedger(lease_ms=90, clock=lambda: now[0])
    gate = Gate()
    job = Job(gate)
    task = asyncio.create_task(ClaimProtocol(ledger, "w1").settle("c", job))
    await gate.started.wait()
    now[0] += 1_000
    taken = await ledger.claim("c", "w2")
    assert isinstance(taken, Acquired)
    while not gate.cancelled:  # noqa: ASYNC110 - the keeper's next renewal finds it lost
        await asyncio.sleep(0.01)
    now[0] += 1_000  # w2's lease ends too, without a result
    assert await asyncio.wait_for(task, 5) == "indeterminate"
    assert job.started_here_seen[-1] is True
    assert isinstance(await ledger.claim("c", "w3"), Recorded)


async def test_a_cancel_from_outside_still_wins_over_a_lease_lost_at_the_same_time() -> None:
    gate = Gate()
    stint = Stint(started=False, cut_on_loss=True)
    task = asyncio.create_task(stint.enter(gate))
    await gate.started.wait()
    stint.lose()
    task.cancel()  # the worker stops in the same loop turn
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.cancelled


async def test_a_tool_not_yet_started_is_not_started_once_its_lease_is_lost() -> None:
    gate = Gate()
    stint = Stint(started=False, cut_on_loss=True)
    stint.lose()
    with pytest.raises(LeaseLostError) as lost:
        await stint.enter(gate)
    assert not lost.value.started
    assert not gate.started.is_set()
