"""CallExecutor.submit_batch: a fetch's calls together, with and without the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from async_toolformer.agents.executor import Admission, CallExecutor, Claimed, Run, Seal, Sealed
from async_toolformer.agents.executor.identity import call_fingerprint
from async_toolformer.agents.tools import ToolRegistry, ToolSpec, tool
from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
)
from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.ledger import Acquired, InMemoryLedger, call_key

registry = ToolRegistry()
runs: list[str] = []


@tool(registry=registry)
async def note(tag: str) -> str:
    """Answers at once, and notes that it ran."""
    runs.append(tag)
    return tag


gate = asyncio.Event()


@tool(registry=registry)
async def gated(tag: str) -> str:
    """Waits for the test to open the gate."""
    await gate.wait()
    return tag


@tool(registry=registry)
async def nap(tag: str, ms: int) -> str:
    """Waits, then answers."""
    runs.append(tag)
    await asyncio.sleep(ms / 1000)
    return tag


@tool(registry=registry)
async def surrogate(tag: str) -> str:
    """Returns a str with a lone surrogate, which no JSON encoder can write."""
    return tag + "\ud800"


class Published:
    """The executor's sinks: counts batches and keeps every result."""

    def __init__(self) -> None:
        self.results: list[ToolCallCompleted] = []
        self.batches = 0

    async def one(self, sealed: Sealed) -> None:
        self.results.append(sealed.event)

    async def many(self, sealed: Sequence[Sealed]) -> None:
        self.batches += 1
        self.results.extend(s.event for s in sealed)


def _executor(published: Published, *, ledger: InMemoryLedger | None = None,
              **options: object) -> CallExecutor:
    guard = LedgerGuard(ledger, None, worker_id="w") if ledger is not None else None
    return CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,
                        guard=guard, **options)  # type: ignore[arg-type]


def _admission(call_id: str, tool_name: str = "note", *, session: str = "s",
               branch: str = "main", **arguments: object) -> Admission:
    request = ToolCallRequested(call_id=call_id, session_id=session, branch_id=branch,
                                tool=tool_name, arguments={"tag": call_id, **arguments})
    spec = registry.get(tool_name)
    return Admission(request, spec, spec.validate(request.arguments))


async def _submit(executor: CallExecutor, admissions: list[Admission]
                  ) -> list[asyncio.Future[Sealed]]:
    for _ in admissions:
        await executor.reserve()
    return executor.submit_batch(admissions, received_at=datetime.now(UTC))


async def _events(*futures: asyncio.Future[Sealed]) -> list[ToolCallCompleted]:
    return [sealed.event for sealed in await asyncio.gather(*futures)]


async def test_instant_calls_are_published_as_one_batch() -> None:
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger())
    results = await _events(*await _submit(
        executor, [_admission(f"c{i}") for i in range(20)]))
    assert [r.output for r in results] == [f"c{i}" for i in range(20)]
    assert all(r.status is CallStatus.OK and r.attempts == 1 for r in results)
    assert published.batches == 1
    assert executor.stats.in_flight == 0
    assert executor.running() == 0


async def test_a_recorded_call_is_answered_from_the_ledger_without_running() -> None:
    runs.clear()
    ledger = InMemoryLedger()
    first, again = Published(), Published()
    await asyncio.gather(*await _submit(_executor(first, ledger=ledger), [_admission("r1")]))
    await asyncio.gather(*await _submit(_executor(again, ledger=ledger), [_admission("r1")]))
    assert runs == ["r1"]
    assert again.results == first.results  # the recorded event itself


async def test_calls_that_wait_run_concurrently_and_can_be_cancelled() -> None:
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger())
    futures = await _submit(executor, [
        _admission("slow", "nap", branch="b", ms=10_000),
        *(_admission(f"n{i}", "nap", ms=50) for i in range(10)),
    ])
    await asyncio.sleep(0.01)
    assert executor.cancel(BranchCancelled(session_id="s", branch_id="b", reason="pruned")) == 1
    results = await asyncio.wait_for(_events(*futures), 5)
    assert results[0].status is CallStatus.CANCELLED
    assert results[0].error is not None
    assert results[0].error.message == "pruned"
    assert results[0].timings.started_at is not None  # it ran: its time is not queue time
    assert results[0].timings.run_ms > 0
    assert results[0].attempts == 1
    assert all(r.status is CallStatus.OK for r in results[1:])


async def test_waiting_calls_that_end_together_are_recorded_and_published_together() -> None:
    published = Published()
    ledger = InMemoryLedger()
    executor = _executor(published, ledger=ledger)
    gate.clear()
    futures = await _submit(executor, [_admission(f"g{i}", "gated") for i in range(30)])
    await asyncio.sleep(0.01)
    assert published.batches == 0
    assert executor.running() == 30
    gate.set()
    results = await asyncio.wait_for(_events(*futures), 5)
    assert [r.output for r in results] == [f"g{i}" for i in range(30)]
    assert published.batches == 1
    assert None not in [await ledger.lookup(call_key(f"g{i}")) for i in range(30)]


async def test_a_cancelled_session_is_answered_without_a_run_and_recorded() -> None:
    runs.clear()
    ledger = InMemoryLedger()
    executor = _executor(Published(), ledger=ledger)
    executor.cancel(SessionCancelled(session_id="gone", reason="bye"))
    futures = await _submit(executor, [_admission("late", session="gone"), _admission("kept")])
    late, kept = await asyncio.gather(*futures)
    assert late.status is CallStatus.CANCELLED
    assert kept.status is CallStatus.OK
    assert runs == ["kept"]
    # recorded, so the session (which takes only what the ledger holds) takes it too
    assert await ledger.lookup(call_key("late")) == late.wire


async def test_a_duplicate_in_one_batch_runs_once() -> None:
    runs.clear()
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger(lease_ms=300))
    a, b = await asyncio.wait_for(asyncio.gather(*await _submit(
        executor, [_admission("dup"), _admission("dup")])), 5)
    assert runs == ["dup"]
    assert a == b
    assert len(published.results) == 2


async def test_a_tool_with_a_cap_keeps_its_queue() -> None:
    published = Published()
    executor = _executor(published, tool_concurrency={"nap": 2})
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(*await _submit(
        executor, [_admission(f"q{i}", "nap", ms=100) for i in range(4)]))
    assert all(r.status is CallStatus.OK for r in results)
    assert asyncio.get_running_loop().time() - started >= 0.2  # two rounds of two
    assert published.batches == 0  # each went its own way


async def test_without_a_ledger_a_batch_still_runs_each_call_once() -> None:
    runs.clear()
    published = Published()
    executor = _executor(published)
    futures = await _submit(executor, [_admission("x"), _admission("y", "nap", ms=20)])
    x, y = await _events(*futures)
    assert (x.output, y.output) == ("x", "y")
    assert sorted(runs) == ["x", "y"]
    assert published.batches == 2  # x with its batch, y once it had waited
    assert len(published.results) == 2


async def test_close_ends_a_batch_without_results() -> None:
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger())
    futures = await _submit(executor, [_admission("hang", "nap", ms=60_000)])
    await asyncio.sleep(0.01)
    await executor.close()
    await asyncio.wait(futures, timeout=1)
    assert futures[0].cancelled()
    assert published.results == []
    assert executor.stats.in_flight == 0


async def test_drain_waits_for_the_finish_of_calls_that_just_ended() -> None:
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger())
    gate.clear()
    futures = await _submit(executor, [_admission(f"d{i}", "gated") for i in range(5)])
    await asyncio.sleep(0.01)
    gate.set()
    assert await executor.drain(5) == 0
    assert sorted(r.call_id for r in published.results) == [f"d{i}" for i in range(5)]
    assert all(f.done() and not f.cancelled() for f in futures)


class AdmittingGuard(LedgerGuard):
    """A guard that admits each call before it runs, as one with rate limits does."""

    def __init__(self, ledger: InMemoryLedger) -> None:
        super().__init__(ledger, None, worker_id="w")
        self.admitted: list[str] = []

    @property
    def eager(self) -> bool:
        return False

    async def hold(self, request: ToolCallRequested, spec: ToolSpec, claimed: Claimed,
                   run: Run, seal: Seal) -> Sealed:
        self.admitted.append(request.call_id)
        assert request.call_id not in runs  # nothing ran before its admission
        return await super().hold(request, spec, claimed, run, seal)


async def test_a_guard_that_admits_each_call_sees_it_before_it_runs() -> None:
    runs.clear()
    published = Published()
    ledger = InMemoryLedger()
    guard = AdmittingGuard(ledger)
    executor = CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,
                            guard=guard)
    results = await asyncio.gather(*await _submit(executor, [_admission(f"a{i}")
                                                             for i in range(10)]))
    assert all(r.status is CallStatus.OK for r in results)
    assert guard.admitted == [f"a{i}" for i in range(10)]
    assert sorted(runs) == sorted(guard.admitted)
    assert None not in [await ledger.lookup(call_key(f"a{i}")) for i in range(10)]


@tool(registry=registry)
async def self_cancelling(tag: str) -> str:
    """Raises CancelledError before it ever waits, as a confused tool might."""
    raise asyncio.CancelledError


async def test_a_tool_that_cancels_itself_at_once_spoils_only_its_own_call() -> None:
    ledger = InMemoryLedger()
    published = Published()
    executor = _executor(published, ledger=ledger)
    futures = await _submit(executor, [_admission("ok1"), _admission("bad", "self_cancelling"),
                                       _admission("ok2")])
    await asyncio.wait(futures, timeout=5)
    assert futures[1].cancelled()  # no result: its offset stays uncommitted
    assert [f.result().event.output for f in (futures[0], futures[2])] == ["ok1", "ok2"]
    bad = _admission("bad", "self_cancelling").request
    retaken = await ledger.claim(call_key("bad"), "other", fingerprint=call_fingerprint(bad))
    assert isinstance(retaken, Acquired)
    assert retaken.takeover_from is None  # handed back, not left to expire


async def test_on_end_hears_of_every_call_once_however_it_ended() -> None:
    ledger = InMemoryLedger(lease_ms=300)
    executor = _executor(Published(), ledger=ledger, tool_concurrency={"gated": 5},
                         max_in_flight=5)
    executor.cancel(SessionCancelled(session_id="gone", reason="bye"))
    admissions = [_admission("now"), _admission("waits", "nap", ms=20),
                  _admission("cancelled", session="gone"), _admission("capped", "gated"),
                  _admission("now")]  # a duplicate in flight follows the first
    heard: list[tuple[int, bool]] = []
    for _ in admissions:
        await executor.reserve()
    futures = executor.submit_batch(
        admissions, received_at=datetime.now(UTC),
        on_end=lambda i, done: heard.append((i, done is futures[i] and done.done())))
    gate.set()
    try:
        await asyncio.wait_for(asyncio.gather(*futures), 5)
    finally:
        gate.clear()
    assert sorted(heard) == [(i, True) for i in range(5)]
    assert executor.stats.in_flight == 0
    assert [executor.try_reserve() for _ in range(6)] == [True] * 5 + [False]  # all given back


async def test_a_result_that_cannot_be_written_is_an_error_and_spoils_no_other_call() -> None:
    published = Published()
    executor = _executor(published, ledger=InMemoryLedger())
    odd, kept = await asyncio.wait_for(_events(*await _submit(
        executor, [_admission("odd", "surrogate"), _admission("kept")])), 5)
    assert odd.status is CallStatus.ERROR
    assert odd.error is not None
    assert odd.error.type == "UnserialisableOutput"
    assert kept.status is CallStatus.OK
