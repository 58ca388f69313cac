"""A call_id names one execution: another tenant's (or session's) reuse is a conflict,
and cancellations reach only their own tenant's calls. Units over the in-memory ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from async_toolformer.agents.executor import Admission, CallExecutor, CancellationBook, Sealed
from async_toolformer.agents.executor.identity import CONFLICT, call_fingerprint
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    SessionCancelled,
    ToolCallCompleted,
    ToolCallRequested,
)
from async_toolformer.streams.redis.call_guard import LedgerGuard
from async_toolformer.streams.redis.ledger import InMemoryLedger

registry = ToolRegistry()
gate = asyncio.Event()


@tool(registry=registry)
async def secret(tag: str) -> str:
    """Answers something only its caller may see, once the test opens the gate."""
    await gate.wait()
    return f"secret of {tag}"


class Published:
    def __init__(self) -> None:
        self.results: list[ToolCallCompleted] = []

    async def one(self, sealed: Sealed) -> None:
        self.results.append(sealed.event)

    async def many(self, sealed: Sequence[Sealed]) -> None:
        self.results.extend(s.event for s in sealed)


def _request(tenant: str, session: str, tag: str = "a", call_id: str = "c1"
             ) -> ToolCallRequested:
    return ToolCallRequested(call_id=call_id, session_id=session, tool="secret",
                             arguments={"tag": tag}, tenant=tenant)


def _admission(request: ToolCallRequested) -> Admission:
    spec = registry.get(request.tool)
    return Admission(request, spec, spec.validate(request.arguments))


async def _submit(executor: CallExecutor, request: ToolCallRequested, *, batch: bool
                  ) -> asyncio.Future[Sealed]:
    await executor.reserve()
    if batch:
        [future] = executor.submit_batch([_admission(request)], received_at=datetime.now(UTC))
        return future
    admission = _admission(request)
    return executor.submit(request, admission.spec, admission.arguments,
                           received_at=datetime.now(UTC))


def _executor(published: Published, ledger: InMemoryLedger | None) -> CallExecutor:
    guard = LedgerGuard(ledger, None, worker_id="w") if ledger is not None else None
    return CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,
                        guard=guard)


def test_the_fingerprint_names_tenant_session_tool_and_arguments() -> None:
    base = call_fingerprint(_request("t1", "s1"))
    assert base == call_fingerprint(_request("t1", "s1").model_copy())
    assert len({base, call_fingerprint(_request("t2", "s1")),
                call_fingerprint(_request("t1", "s2")),
                call_fingerprint(_request("t1", "s1", tag="b"))}) == 4
    reordered = ToolCallRequested(call_id="c1", session_id="s1", tool="secret", tenant="t1",
                                  arguments={"b": 1, "a": 2})
    same = ToolCallRequested(call_id="c1", session_id="s1", tool="secret", tenant="t1",
                             arguments={"a": 2, "b": 1})
    assert call_fingerprint(reordered) == call_fingerprint(same)  # canonical: sorted keys


async def test_another_tenants_call_id_is_a_conflict_after_it_was_recorded() -> None:
    gate.set()
    ledger = InMemoryLedger()
    published = Published()
    executor = _executor(published, ledger)
    first = (await asyncio.wait_for(await _submit(executor, _request("a", "sa"), batch=True),
                                    5)).event
    assert first.output == "secret of a"
    for batch in (True, False):
        stolen = (await asyncio.wait_for(
            await _submit(executor, _request("b", "sb"), batch=batch), 5)).event
        assert stolen.status is CallStatus.REJECTED
        assert stolen.error is not None
        assert stolen.error.type == CONFLICT
        assert stolen.output is None
        assert stolen.session_id == "sb"  # answered to its own session, never to "sa"
    again = (await asyncio.wait_for(await _submit(executor, _request("a", "sa"), batch=False),
                                    5)).event
    assert again.output == "secret of a"  # the owner's redelivery is still answered
    assert [r.session_id for r in published.results] == ["sa", "sb", "sb", "sa"]
    await executor.close()


async def test_another_tenants_call_id_is_a_conflict_while_it_runs_here() -> None:
    gate.clear()
    for ledger in (None, InMemoryLedger()):
        published = Published()
        executor = _executor(published, ledger)
        owner = await _submit(executor, _request("a", "sa"), batch=True)
        await asyncio.sleep(0.01)
        stolen = (await asyncio.wait_for(
            await _submit(executor, _request("b", "sa", tag="x"), batch=True), 5)).event
        assert stolen.error is not None
        assert stolen.error.type == CONFLICT
        gate.set()
        assert (await asyncio.wait_for(owner, 5)).event.output == "secret of a"
        assert [r.output for r in published.results] == [None, "secret of a"]
        gate.clear()
        await executor.close()


def test_a_cancellation_applies_to_its_own_tenant_only() -> None:
    book = CancellationBook()
    book.record(SessionCancelled(session_id="s", tenant="b"))
    book.record(BranchCancelled(session_id="s2", branch_id="x", tenant="a"))
    assert book.reason("s", "main", tenant="a") is None
    assert book.reason("s", "main", tenant="b") == "cancelled"
    assert book.reason("s2", "x", tenant="a") == "cancelled"
    assert book.reason("s2", "x") is None  # the default tenant is a tenant like any other


async def test_a_strangers_cancellation_does_not_stop_a_running_call() -> None:
    gate.clear()
    published = Published()
    executor = _executor(published, None)
    running = await _submit(executor, _request("a", "s"), batch=False)
    await asyncio.sleep(0.01)
    assert executor.cancel(SessionCancelled(session_id="s", tenant="b")) == 0
    assert executor.cancel(BranchCancelled(session_id="s", branch_id="main")) == 0
    gate.set()
    assert (await asyncio.wait_for(running, 5)).event.status is CallStatus.OK
    gate.clear()
    running = await _submit(executor, _request("a", "s", call_id="c2"), batch=False)
    await asyncio.sleep(0.01)
    assert executor.cancel(SessionCancelled(session_id="s", tenant="a")) == 1
    assert (await asyncio.wait_for(running, 5)).event.status is CallStatus.CANCELLED
    await executor.close()
