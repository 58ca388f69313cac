"""Answers given without a run (cancellations, refusals) are recorded like any result,
and a result recorded before a cancellation wins over it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from async_toolformer.agents.executor import Admission, CallExecutor, Refusal, Sealed
from async_toolformer.agents.executor.identity import call_fingerprint
from async_toolformer.agents.executor.outcome import rejected_event
from async_toolformer.agents.tools import ToolRegistry, tool
from async_toolformer.schemas import (
    BranchCancelled,
    CallStatus,
    DeadLetterReason,
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


class Published:
    def __init__(self) -> None:
        self.wires: list[bytes] = []

    async def one(self, sealed: Sealed) -> None:
        self.wires.append(sealed.wire)

    async def many(self, sealed: list[Sealed]) -> None:
        self.wires.extend(s.wire for s in sealed)


def _executor(ledger: InMemoryLedger, published: Published, **options: object) -> CallExecutor:
    return CallExecutor(worker_id="w", sink=published.one, sink_many=published.many,  # type: ignore[arg-type]
                        guard=LedgerGuard(ledger, None, worker_id="w"), **options)  # type: ignore[arg-type]


def _admission(call_id: str, *, tenant: str = "default") -> Admission:
    request = ToolCallRequested(call_id=call_id, session_id="s", branch_id="b", tool="note",
                                arguments={"tag": call_id}, tenant=tenant)
    spec = registry.get("note")
    return Admission(request, spec, spec.validate(request.arguments))


async def _batch(executor: CallExecutor, admission: Admission) -> Sealed:
    await executor.reserve()
    (future,) = executor.submit_batch([admission], received_at=datetime.now(UTC))
    return await future


async def _alone(executor: CallExecutor, admission: Admission) -> Sealed:
    await executor.reserve()
    return await executor.submit(admission.request, admission.spec, admission.arguments,
                                 received_at=datetime.now(UTC))


def _cancel_branch(executor: CallExecutor) -> None:
    executor.cancel(BranchCancelled(session_id="s", branch_id="b", reason="pruned"))


@pytest.mark.parametrize("path", ["batch", "alone"])
async def test_a_recorded_result_wins_over_a_later_cancellation(path: str) -> None:
    runs.clear()
    ledger, published = InMemoryLedger(), Published()
    executor = _executor(ledger, published)
    submit = _batch if path == "batch" else _alone
    first = await submit(executor, _admission("c1"))
    assert first.status is CallStatus.OK
    _cancel_branch(executor)
    again = await submit(executor, _admission("c1"))  # redelivered after the cancellation
    assert again.wire == first.wire
    assert published.wires == [first.wire, first.wire]
    assert runs == ["c1"]


@pytest.mark.parametrize("path", ["batch", "alone"])
async def test_a_call_cancelled_before_its_claim_is_recorded_cancelled(path: str) -> None:
    runs.clear()
    ledger, published = InMemoryLedger(), Published()
    executor = _executor(ledger, published)
    _cancel_branch(executor)
    submit = _batch if path == "batch" else _alone
    cancelled = await submit(executor, _admission("c2"))
    assert cancelled.status is CallStatus.CANCELLED
    assert runs == []
    entry = await ledger.entry(call_key("c2"))
    assert entry == (call_fingerprint(_admission("c2").request), cancelled.wire)


def _rejection(admission: Admission) -> Sealed:
    request = admission.request
    refusal = Refusal(DeadLetterReason.INVALID_ARGUMENTS, "note: tag: bad", call_id=request.call_id,
                      session_id=request.session_id, branch_id=request.branch_id,
                      tool=request.tool, request=request)
    event = rejected_event(refusal, worker_id="w", received_at=datetime.now(UTC))
    assert event is not None
    return Sealed.of(event)


async def test_a_refusal_is_recorded_under_its_fingerprint_and_answered_from_the_record() -> None:
    ledger, published = InMemoryLedger(), Published()
    executor = _executor(ledger, published)
    a, b = _admission("r1"), _admission("r2")
    first = [_rejection(a), _rejection(b)]
    await executor.answer([(a.request, first[0]), (b.request, first[1])])
    assert published.wires == [s.wire for s in first]
    for admission, sealed in zip((a, b), first, strict=True):
        entry = await ledger.entry(call_key(admission.request.call_id))
        assert entry == (call_fingerprint(admission.request), sealed.wire)
    await asyncio.sleep(0.002)  # a refusal made later has other timings, so other bytes
    later = _rejection(a)
    assert later.wire != first[0].wire
    await executor.answer([(a.request, later)])
    assert published.wires[-1] == first[0].wire


async def test_a_refusal_never_touches_another_executions_entry() -> None:
    ledger, published = InMemoryLedger(), Published()
    executor = _executor(ledger, published)
    owner = await _batch(executor, _admission("shared", tenant="owner"))
    stranger = _admission("shared", tenant="stranger")
    refusal = _rejection(stranger)
    await executor.answer([(stranger.request, refusal)])
    assert published.wires[-1] == refusal.wire  # its own answer, unrecorded
    entry = await ledger.entry(call_key("shared"))
    assert entry == (call_fingerprint(_admission("shared", tenant="owner").request), owner.wire)


async def test_a_refusal_for_a_call_held_elsewhere_is_left_to_its_owner() -> None:
    ledger, published = InMemoryLedger(), Published()
    executor = _executor(ledger, published)
    admission = _admission("held")
    fingerprint = call_fingerprint(admission.request)
    claim = await ledger.claim(call_key("held"), "other", fingerprint=fingerprint)
    assert isinstance(claim, Acquired)
    refusal = _rejection(admission)
    await executor.answer([(admission.request, refusal)])
    assert published.wires == [refusal.wire]
    assert await ledger.lookup(call_key("held")) is None  # the owner's to record
    assert await ledger.complete(call_key("held"), claim.token, b"theirs",
                                 fingerprint=fingerprint)
